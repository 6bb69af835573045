"""Reading a page's query string: bad values are a 400 that names the parameter."""

from __future__ import annotations

from flask import abort, request

MAX_PAGE = 10_000


def page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, f"page must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)


def text_arg(name: str, max_length: int = 128) -> str | None:
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        abort(400, f"{name} is longer than {max_length} characters.")
    return value or None
