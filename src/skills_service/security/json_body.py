"""The one reader of JSON request bodies: standard JSON, bounded depth and number size.

The standard library's parser recurses once per nesting level (100,000 ``[`` exhaust
the stack), converts a digit run of any length to an int (5,000 digits hit the
interpreter's conversion limit) and reads ``NaN`` and ``Infinity``; each of those
became a server error. Here nesting is measured before anything is parsed and every
number is checked as it is read. A refused body is a 400 that says what was wrong.

It is the ``json_module`` of the app's request class, so ``request.get_json()`` (the
API's argument parser and Dash's callbacks alike) reads every body through it; what
the service writes, and reads of its own data, are not bounded by it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import json as flask_json
from werkzeug.exceptions import BadRequest

MAX_DEPTH = 32
"""Arrays and objects inside one another; no request of the service needs more than a few."""
MAX_NUMBER_CHARS = 32
"""Characters in one number: every 64-bit integer and every float's shortest form fit."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JSONBodyRefused(BadRequest):
    """A body that is not JSON the service reads; ``description`` names the problem."""


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than ``MAX_DEPTH`` (brackets inside strings
    do not count)."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _bounded(number: str) -> str:
    if len(number) > MAX_NUMBER_CHARS:
        raise JSONBodyRefused(f"A number in the body is longer than {MAX_NUMBER_CHARS} characters.")
    return number


def _integer(number: str) -> int:
    return int(_bounded(number))


def _float(number: str) -> float:
    value = float(_bounded(number))
    if not math.isfinite(value):
        raise JSONBodyRefused("A number in the body is too large.")
    return value


def _constant(name: str) -> Any:
    raise JSONBodyRefused(f"{name} is not a JSON number.")


def bounded_loads(body: str | bytes) -> Any:
    """``body`` parsed, or ``JSONBodyRefused`` when it is not UTF-8 JSON within the bounds."""
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONBodyRefused("The body is not UTF-8 text.") from None
    if _too_deep(body):
        raise JSONBodyRefused(f"The body is nested deeper than {MAX_DEPTH} levels.")
    try:
        return json.loads(body, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise JSONBodyRefused(
            f"The body is not valid JSON (line {error.lineno}, column {error.colno})."
        ) from None


class RequestJSON:
    """What a request reads its JSON body with: ``bounded_loads`` (and Flask's ``dumps``)."""

    loads = staticmethod(bounded_loads)
    dumps = staticmethod(flask_json.dumps)
