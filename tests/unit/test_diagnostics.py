"""The diagnostics rules: greeting names, the arithmetic evaluator, ping's input and output."""

from __future__ import annotations

import ast
import math
import operator
import stat
import subprocess
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from skills_service.services import diagnostics
from skills_service.services.diagnostics import (
    EXPRESSION_MAX,
    MAX_INTEGER_BITS,
    InvalidParameter,
    PingUnavailable,
    calculate,
    greeting,
    parse_ip,
)

Number = int | float
Case = tuple[str, Number | None]
"""An expression's text and its value, or None when it must be refused."""

OPERAND_BITS_SEEN_MAX = 2 * diagnostics.MAX_INTEGER_BITS
"""No operation may ever be handed an integer larger than this: the evaluator refuses
a blow-up from its operands' sizes before computing it, so its work stays bounded."""


def _blows_up(node: type, left: int, right: int) -> bool:
    """Whether an exact result would be far beyond the limit (the oracle's own estimate)."""
    bits = abs(left).bit_length()
    if node is ast.Pow:
        return right > 0 and (bits - 1) * right > OPERAND_BITS_SEEN_MAX
    if node is ast.Mult:
        return bits + abs(right).bit_length() > OPERAND_BITS_SEEN_MAX + 1
    return False


@contextmanager
def operand_bits() -> Iterator[list[int]]:
    """The bit lengths of the integers every arithmetic operation is handed and returns;
    an operation whose result would be huge fails the test instead of running."""
    seen: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        for node, function in list(diagnostics._BINARY_OPERATORS.items()):

            def recording(
                left: Any, right: Any, node: type = node, function: Callable[..., Any] = function
            ) -> Any:
                if isinstance(left, int) and isinstance(right, int):
                    seen.extend((abs(left).bit_length(), abs(right).bit_length()))
                    assert not _blows_up(node, left, right), (
                        f"computed {left} {node.__name__} {right}"
                    )
                result = function(left, right)
                if isinstance(result, int):
                    seen.append(abs(result).bit_length())
                return result

            patch.setitem(diagnostics._BINARY_OPERATORS, node, recording)
        yield seen


"""Seconds any single evaluation may take, however hostile the input."""
LETTERS_AND_DIGITS = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"}


# hello


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ada", "Ada"),
        ("R2D2", "R2D2"),
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),
        ("Ægir", "Ægir"),
        ("李小龙", "李小龙"),
        ("नमस्ते", "नमस्ते"),
        ("٣٤", "٣٤"),
        ("a" * 64, "a" * 64),
    ],
)
def test_names_of_letters_and_digits_are_greeted(name: str, shown: str) -> None:
    assert greeting(name) == f"Hello, {shown}!"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 65,
        "Ada Lovelace",
        "Ada!",
        "x²",
        "½",
        "Ⅻ",
        "a\u200db",
        "a\u202eb",
        "\u0301a",
        "1\u0301",
        "<script>",
        "a\nb",
        "nul\x00",
        "😀",
        "-a",
        "\ud800",
    ],
)
def test_anything_else_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        greeting(name)
    assert refused.value.errors == {"name": ["name must be 1 to 64 letters or digits."]}


@given(st.text(max_size=80))
def test_a_greeting_holds_only_letters_digits_and_their_marks(name: str) -> None:
    try:
        message = greeting(name)
    except InvalidParameter as refused:
        assert refused.field == "name"
        return
    shown = message.removeprefix("Hello, ").removesuffix("!")
    categories = [unicodedata.category(char) for char in shown]
    assert 1 <= len(shown) <= 64
    assert categories[0] in LETTERS_AND_DIGITS
    assert set(categories) <= LETTERS_AND_DIGITS | {"Mn", "Mc"}


# calculate: agreement with Python on generated expressions

BINARY: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("+", operator.add),
    ("-", operator.sub),
    ("*", operator.mul),
    ("/", operator.truediv),
    ("//", operator.floordiv),
    ("%", operator.mod),
]


def _within_limits(value: object) -> Number | None:
    if isinstance(value, complex):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        return None
    assert isinstance(value, int | float)
    return value


def _apply(function: Callable[..., Any], *operands: Number | None) -> Number | None:
    """Python's own answer, or None where the evaluator must refuse."""
    if any(value is None for value in operands):
        return None
    try:
        return _within_limits(function(*operands))
    except (ZeroDivisionError, OverflowError):
        return None


def _binary(parts: tuple[Case, tuple[str, Callable[[Any, Any], Any]], Case]) -> Case:
    (left, left_value), (symbol, function), (right, right_value) = parts
    return f"({left} {symbol} {right})", _apply(function, left_value, right_value)


def _power(parts: tuple[Case, int]) -> Case:
    (base, base_value), exponent = parts
    return f"({base} ** {exponent})", _apply(operator.pow, base_value, exponent)


def _signed(parts: tuple[str, Case]) -> Case:
    sign, (operand, value) = parts
    function = operator.neg if sign == "-" else operator.pos
    return f"({sign}{operand})", _apply(function, value)


numbers: st.SearchStrategy[Case] = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(lambda n: (str(n), n)),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False).map(
        lambda x: (repr(x), x)
    ),
)
expressions: st.SearchStrategy[Case] = st.recursive(
    numbers,
    lambda children: st.one_of(
        st.tuples(children, st.sampled_from(BINARY), children).map(_binary),
        st.tuples(children, st.integers(min_value=-3, max_value=8)).map(_power),
        st.tuples(st.sampled_from("+-"), children).map(_signed),
    ),
    max_leaves=12,
)


@given(expressions)
def test_generated_arithmetic_agrees_with_python(case: Case) -> None:
    text, expected = case
    assume(len(text) <= EXPRESSION_MAX)
    if expected is None:
        with pytest.raises(InvalidParameter):
            calculate(text)
    else:
        result = calculate(text)
        assert result == expected
        assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % -3", -2),
        ("7 / 2", 3.5),
        ("2 ** -1", 0.5),
        ("-2 ** 2", -4),
        ("(-2) ** 2", 4),
        ("2 ** 3 ** 2", 512),
        ("+-+1", -1),
        ("1.5e3", 1500.0),
        ("2 ** 1000", 2**1000),
        (" 1 ", 1),
        ("(" * 100 + "1" + ")" * 100, 1),
    ],
)
def test_arithmetic_follows_python_semantics(text: str, expected: Number) -> None:
    assert calculate(text) == expected


# calculate: arbitrary and hostile input


def answered_or_refused(text: str) -> None:
    try:
        result = calculate(text)
    except InvalidParameter as refused:
        assert refused.field == "expr"
    else:
        assert type(result) in (int, float)


@settings(deadline=None)
@given(st.text(max_size=EXPRESSION_MAX + 20))
def test_any_text_is_answered_or_refused(text: str) -> None:
    answered_or_refused(text)


@settings(deadline=None)
@given(st.text(alphabet="0123456789.eE+-*/%() ", max_size=EXPRESSION_MAX))
def test_any_arithmetic_text_is_answered_or_refused_without_huge_operands(text: str) -> None:
    with operand_bits() as seen:
        answered_or_refused(text)
    assert max(seen, default=0) <= OPERAND_BITS_SEEN_MAX


HOSTILE = [
    "9**9**9",
    "9**9**9**9",
    "2**100000",
    "2**1024",
    "3**1000",
    "(10**300)*(10**300)",
    "(2**1000)*(2**1000)*(2**1000)",
    "(2**1023)**2",
    "((2**1000)**0.5)**4",
    "10**308*10.0",
    "1e308*10",
    "1e308+1e308",
    "1e999",
    "-1e999",
    "1e308//1e-308",
    "2.0**100000",
    "1.0**100000",
    "(-8)**(1/3)",
    "1/0",
    "1//0",
    "1%0",
    "1/0.0",
    "1%-0.0",
    "0**-1",
    "0.0**-0.5",
    "(" * 200 + "1" + ")" * 200,
    "(" * 120 + "1" + ")" * 119,
    "-" * 255 + "1",
    "+".join(["1"] * 60),
    "1" * 257,
    "1+" * 200 + "1",
    "__import__('os')",
    "__import__('os').system('id')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "1 .e",
    "(1)(2)",
    "e",
    "1e",
    "lambda: 1",
    "(lambda x: x)(1)",
    "f'{1}'",
    "b'1'",
    "'1'",
    "True+1",
    "None",
    "1j",
    "1+2j",
    "[1]",
    "{1}",
    "1 if 1 else 2",
    "1 < 2",
    "1 == 1",
    "1, 2",
    "1 << 1000",
    "1 & 1",
    "~1",
    "not 1",
    "x := 1",
    "0x10",
    "1_000",
    "１",
    "1\n+1",
    "1\x00",
    "",
    "   ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_refused_before_any_huge_operation(text: str) -> None:
    with operand_bits() as seen, pytest.raises(InvalidParameter) as refused:
        calculate(text)
    assert max(seen, default=0) <= OPERAND_BITS_SEEN_MAX
    assert list(refused.value.errors) == ["expr"]


def test_the_largest_allowed_values_still_compute_exactly() -> None:
    assert calculate("2**1023 - 1 + 2**1023") == 2**1024 - 1
    assert calculate("(2**1023)/(2**1000)") == 2.0**23
    assert calculate("1.5**1000") == 1.5**1000


def test_refusals_say_what_was_wrong() -> None:
    def detail(text: str) -> str:
        with pytest.raises(InvalidParameter) as refused:
            calculate(text)
        return refused.value.detail

    assert "zero" in detail("1/0")
    assert "exponent" in detail("9**9**9")
    assert "too large" in detail("2**5000")
    assert "at most 256 characters" in detail("1" * 257)
    assert "only digits" in detail("__import__('os')")
    assert "may only combine numbers" in detail("(1)(2)")
    assert "real" in detail("(-8)**(1/3)")


# ping: which input reaches the process


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("192.0.2.10", "192.0.2.10"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:ffff:ffff:ffff:ffff:255.255.255.254", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"),
    ],
)
def test_address_literals_are_accepted_in_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_ip(text)) == canonical


INJECTIONS = [
    "",
    "127.0.0.1; id",
    "127.0.0.1 && id",
    "127.0.0.1|id",
    "-c 1000 127.0.0.1",
    "-f",
    "--help",
    "$(id)",
    "`id`",
    "127.0.0.1\nid",
    "127.0.0.1\x00",
    " 127.0.0.1",
    "127.0.0.1 ",
    "::1%eth0",
    "fe80::1%25eth0",
    "localhost",
    "example.org",
    "127.1",
    "0127.0.0.1",
    "0x7f.0.0.1",
    "2130706433",
    "127.0.0.1/32",
    "256.0.0.1",
    "1:2:3:4:5:6:7:8:9",
    "１２７.０.０.１",
    "127.0.0.١",
    "é" * 500,
    "1" * 10_000,
    "224.0.0.1",
    "ff02::1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "::",
    "255.255.255.255",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_anything_but_a_unicast_address_literal_is_refused(text: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse_ip(text)
    assert list(refused.value.errors) == ["ip"]


@given(st.text(max_size=60))
def test_an_accepted_address_is_plain_hex_dots_and_colons(text: str) -> None:
    try:
        address = parse_ip(text)
    except InvalidParameter:
        return
    assert set(text) <= set("0123456789abcdefABCDEF.:")
    assert not address.is_multicast and not address.is_unspecified


# ping: running a program that stands in for the system ping


def _fake_ping(directory: Path, script: str) -> Path:
    program = directory / "ping"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


@pytest.fixture
def ping_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(diagnostics, "PING_SEARCH_PATH", str(tmp_path))
    return tmp_path


def test_ping_gets_one_packet_a_wait_and_the_address_after_the_options(ping_dir: Path) -> None:
    argv_file = ping_dir / "argv"
    _fake_ping(
        ping_dir,
        f"printf '%s\\n' \"$@\" > {argv_file}\n"
        "echo 'rtt min/avg/max/mdev = 0.101/0.250/0.400/0.010 ms'\n",
    )
    result = diagnostics.ping("0:0:0:0:0:0:0:1")
    assert result == diagnostics.PingResult(ip="::1", reachable=True, rtt_ms=0.25)
    wait = str(diagnostics.PING_WAIT_SECONDS)
    assert argv_file.read_text().split() == ["-6", "-n", "-q", "-c", "1", "-W", wait, "--", "::1"]


def test_no_reply_is_unreachable(ping_dir: Path) -> None:
    _fake_ping(ping_dir, "echo '1 packets transmitted, 0 received, 100% packet loss'\nexit 1\n")
    assert diagnostics.ping("192.0.2.1") == diagnostics.PingResult("192.0.2.1", False, None)


def test_a_network_error_is_unreachable(ping_dir: Path) -> None:
    _fake_ping(ping_dir, "echo 'ping: connect: Network is unreachable' >&2\nexit 2\n")
    assert diagnostics.ping("2001:db8::1") == diagnostics.PingResult("2001:db8::1", False, None)


def test_a_ping_without_permission_for_icmp_is_unavailable_not_unreachable(
    ping_dir: Path,
) -> None:
    _fake_ping(ping_dir, "echo 'ping: socket: Operation not permitted' >&2\nexit 2\n")
    with pytest.raises(PingUnavailable, match="not permitted"):
        diagnostics.ping("127.0.0.1")


def test_a_missing_ping_is_unavailable(ping_dir: Path) -> None:
    with pytest.raises(PingUnavailable, match="not installed"):
        diagnostics.ping("127.0.0.1")


def test_a_ping_that_cannot_start_is_unavailable(ping_dir: Path) -> None:
    program = ping_dir / "ping"
    program.write_bytes(b"\x00\x01 not a program")
    program.chmod(0o755)
    with pytest.raises(PingUnavailable, match="cannot run"):
        diagnostics.ping("127.0.0.1")


def test_a_ping_that_hangs_is_killed_in_bounded_time(
    ping_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diagnostics, "PING_WAIT_SECONDS", 0)
    monkeypatch.setattr(diagnostics, "PING_EXIT_GRACE_SECONDS", 1)
    _fake_ping(ping_dir, "exec sleep 30\n")
    started = time.monotonic()
    assert diagnostics.ping("127.0.0.1") == diagnostics.PingResult("127.0.0.1", False, None)
    assert time.monotonic() - started < 5


def test_refused_input_never_starts_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "run", no_process)
    for text in INJECTIONS:
        with pytest.raises(InvalidParameter):
            diagnostics.ping(text)
