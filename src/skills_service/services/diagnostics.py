"""The diagnostics of the original demo, done safely: hello, calculate, ping.

Each function validates its one parameter itself and raises ``InvalidParameter``
naming it; every limit is checked before the work it guards, so no input can make
a request hang, exhaust memory or reach a shell.
"""

from __future__ import annotations

import ast
import ipaddress
import logging
import math
import operator
import re
import shutil
import subprocess  # nosec B404
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from skills_service.errors import DomainError, InvalidInput

log = logging.getLogger(__name__)

Number = int | float


class InvalidParameter(InvalidInput):
    """A diagnostics parameter that breaks its rule (the API answers these with 400)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, {field: [detail]})
        self.field = field


class PingUnavailable(DomainError):
    """The system ping is missing or may not send ICMP here (the API answers 503)."""


# hello

NAME_MAX = 64
_LETTERS_AND_DIGITS = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_MARKS = frozenset({"Mn", "Mc"})


def greeting(name: str) -> str:
    """``Hello, <name>!`` for a name of 1 to ``NAME_MAX`` letters or digits.

    The rule, applied after NFC normalisation: Unicode letters (categories L*) and
    decimal digits (Nd), with combining marks (Mn, Mc) allowed right after a letter
    so that names such as "Zoë" (decomposed) or "नमस्ते" pass. Everything else is
    refused: spaces, punctuation, symbols, superscripts and fractions (No), Roman
    numerals (Nl), control, format and bidi characters, unassigned code points.
    """
    text = unicodedata.normalize("NFC", name)
    if not 1 <= len(text) <= NAME_MAX or not _is_letters_and_digits(text):
        raise InvalidParameter("name", f"name must be 1 to {NAME_MAX} letters or digits.")
    return f"Hello, {text}!"


def _is_letters_and_digits(text: str) -> bool:
    after_letter = False
    for char in text:
        category = unicodedata.category(char)
        if category in _MARKS and after_letter:
            continue
        if category not in _LETTERS_AND_DIGITS:
            return False
        after_letter = category.startswith("L")
    return True


# calculate

EXPRESSION_MAX = 256
"""Characters in an expression; also keeps the parser's work small and flat."""
MAX_NODES = 100
"""Numbers and operations in an expression. The tree's depth is at most this, so it
also bounds the evaluator's recursion."""
MAX_EXPONENT = 10_000
"""The largest exponent magnitude, integer or float."""
MAX_INTEGER_BITS = 1024
"""The largest integer, as the result or any intermediate value (about 1.8e308, the
float range). Powers and products are refused from the operands' bit lengths before
they are computed, so no operation ever works on numbers much larger than this."""

_EXPRESSION_CHARACTERS = re.compile(r"[0-9.eE+\-*/%() ]*")
_BINARY_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPERATORS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_DIVISIONS = (ast.Div, ast.FloorDiv, ast.Mod)


def calculate(expression: str) -> Number:
    """The value of an arithmetic expression, computed by walking its syntax tree.

    Allowed: decimal integer and float literals, ``+ - * / // % **``, unary ``+``
    and ``-``, parentheses. Nothing is evaluated until the whole tree has been
    checked, and nothing of Python's beyond its parser and these operators is used.
    """
    tree = _parse(expression)
    _check_shape(tree.body)
    return _evaluate(tree.body)


def _rejected(detail: str) -> InvalidParameter:
    return InvalidParameter("expr", detail)


def _parse(expression: str) -> ast.Expression:
    if len(expression) > EXPRESSION_MAX:
        raise _rejected(f"expr must be at most {EXPRESSION_MAX} characters.")
    if not _EXPRESSION_CHARACTERS.fullmatch(expression):
        raise _rejected(
            "expr may contain only digits, '.', 'e', spaces, parentheses and + - * / %."
        )
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise _rejected("expr is not a well-formed arithmetic expression.") from None


def _check_shape(root: ast.expr) -> None:
    """Refuse anything but numbers and the allowed operators, and oversized trees."""
    pending = [root]
    seen = 0
    while pending:
        node = pending.pop()
        seen += 1
        if seen > MAX_NODES:
            raise _rejected(f"expr must have at most {MAX_NODES} numbers and operators.")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPERATORS:
            pending += (node.left, node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPERATORS:
            pending.append(node.operand)
        elif not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
            raise _rejected("expr may only combine numbers with + - * / // % ** and signs.")


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.BinOp):
        return _binary(node.op, _evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp):
        return _bounded(_UNARY_OPERATORS[type(node.op)](_evaluate(node.operand)))
    return _bounded(cast(ast.Constant, node).value)


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    if isinstance(op, _DIVISIONS) and right == 0:
        raise _rejected("expr divides by zero.")
    if isinstance(op, ast.Pow):
        _check_power(left, right)
    if isinstance(op, ast.Mult):
        _check_product(left, right)
    try:
        return _bounded(_BINARY_OPERATORS[type(op)](left, right))
    except OverflowError:
        raise _too_large() from None


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise _rejected(f"expr has an exponent larger than {MAX_EXPONENT}.")
    if base == 0 and exponent < 0:
        raise _rejected("expr divides by zero.")
    # |base| >= 2 ** (bits - 1), so the power has more than (bits - 1) * exponent bits.
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and (abs(base).bit_length() - 1) * exponent >= MAX_INTEGER_BITS
    ):
        raise _too_large()


def _check_product(left: Number, right: Number) -> None:
    # An integer product has at least bits(left) + bits(right) - 1 bits.
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() - 1 > MAX_INTEGER_BITS
    ):
        raise _too_large()


def _bounded(value: object) -> Number:
    """``value`` if it is a real number within the limits (no complex, inf or nan)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _too_large()
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INTEGER_BITS:
            raise _too_large()
        return value
    raise _rejected("expr has no real-numbered result.")


def _too_large() -> InvalidParameter:
    return _rejected("expr, or a value on the way to its result, is too large.")


# ping

PING_SEARCH_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
"""Where ``ping`` is looked up: the system's directories, never the caller's PATH."""
PING_WAIT_SECONDS = 2
"""How long ping waits for its one reply (``-W``)."""
PING_EXIT_GRACE_SECONDS = 3
"""Extra time before a ping that has not exited is killed."""
IP_MAX = 45
"""The longest address literal (``ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255``)."""

_IP_CHARACTERS = re.compile(rf"[0-9A-Fa-f.:]{{2,{IP_MAX}}}")
_RTT = re.compile(r"= [0-9.]+/([0-9.]+)/")
_NOT_PERMITTED = ("Operation not permitted", "Permission denied")
_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@dataclass(frozen=True)
class PingResult:
    ip: str
    reachable: bool
    rtt_ms: float | None


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A unicast IPv4 or IPv6 address literal, nothing else.

    Only hex digits, dots and colons are accepted before parsing, so host names,
    zone ids (``fe80::1%eth0``), spaces, option-like dashes and shell syntax never
    get further. Multicast, the unspecified address and the limited broadcast are
    refused: they are not one host to ask.
    """
    if not _IP_CHARACTERS.fullmatch(text):
        raise InvalidParameter("ip", "ip must be an IPv4 or IPv6 address.")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameter("ip", "ip must be an IPv4 or IPv6 address.") from None
    if address.is_multicast or address.is_unspecified or address == _LIMITED_BROADCAST:
        raise InvalidParameter("ip", "ip must be the address of a single host.")
    return address


def ping(ip: str) -> PingResult:
    """Send one ICMP echo request to ``ip`` with the system's (iputils) ping.

    ``reachable`` is whether a reply came within ``PING_WAIT_SECONDS``. A ping that
    is missing, cannot be started or may not open an ICMP socket is
    ``PingUnavailable``, never a silent "unreachable".
    """
    address = parse_ip(ip)
    program = shutil.which("ping", path=PING_SEARCH_PATH)
    if program is None:
        raise PingUnavailable("The ping utility is not installed on this server.")
    argv = [program, f"-{address.version}", "-n", "-q", "-c", "1"]
    argv += ["-W", str(PING_WAIT_SECONDS), "--", str(address)]
    try:
        # An argument list without a shell, a program from the system's directories and
        # an address that parse_ip has reduced to its canonical form.
        finished = subprocess.run(  # noqa: S603  # nosec B603
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env={"LC_ALL": "C"},
            timeout=PING_WAIT_SECONDS + PING_EXIT_GRACE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("ping did not exit in time", extra={"ip": str(address)})
        return PingResult(str(address), reachable=False, rtt_ms=None)
    except OSError as exc:
        log.error("ping could not be started", extra={"reason": type(exc).__name__})
        raise PingUnavailable("The ping utility cannot run on this server.") from None
    return _ping_result(str(address), finished)


def _ping_result(ip: str, finished: subprocess.CompletedProcess[str]) -> PingResult:
    """Read iputils' exit status: 0 a reply, 1 none, anything else an error."""
    if finished.returncode == 0:
        match = _RTT.search(finished.stdout)
        return PingResult(ip, reachable=True, rtt_ms=float(match.group(1)) if match else None)
    if finished.returncode != 1:
        reason = finished.stderr.strip()[:200]
        if any(text in reason for text in _NOT_PERMITTED):
            log.error("ping may not send ICMP here", extra={"reason": reason})
            raise PingUnavailable("The ping utility is not permitted to send ICMP on this server.")
        log.info("ping failed", extra={"ip": ip, "reason": reason})
    return PingResult(ip, reachable=False, rtt_ms=None)
