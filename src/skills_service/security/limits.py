"""Size limits on bodies and query strings, and the content types the API accepts."""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestURITooLarge, UnsupportedMediaType

MAX_QUERY_STRING_BYTES = 4096
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def check_request_shape() -> None:
    if len(request.query_string) > MAX_QUERY_STRING_BYTES:
        raise RequestURITooLarge("The query string is too long.")
    if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
        return
    accepted = current_app.config["API_BODY_TYPES"].get(request.endpoint, ("application/json",))
    if not request.content_length and request.mimetype == "":
        return
    if request.mimetype not in accepted:
        raise UnsupportedMediaType(f"Send the body as {' or '.join(accepted)}.")


def init_app(app: Flask, *, max_body_bytes: int) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config.setdefault("API_BODY_TYPES", {})
    app.before_request(check_request_shape)
