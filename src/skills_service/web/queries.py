"""Reading a page's query string: bad values are a 400 that names the parameter."""

from __future__ import annotations

from flask import abort, request

from skills_service.services.common import ascii_int

MAX_PAGE = 10_000


def page_number() -> int:
    number = ascii_int(request.args.get("page", "1"), maximum=MAX_PAGE)
    if number is None or number < 1:
        abort(400, f"page must be a whole number from 1 to {MAX_PAGE}.")
    return number


def text_arg(name: str, max_length: int = 128) -> str | None:
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        abort(400, f"{name} is longer than {max_length} characters.")
    return value or None
