"""Size limits on bodies, query strings, headers and path ids, and the API's content types.

The limits on the request line and the headers are the app's own, below those of the
web server (``gunicorn_conf.py``) and of the proxy in front (``deploy/nginx/``), so
that an over-long query string or header is refused here, as the service's problem
(or page), not by the server with a page of its own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import (
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
    UnsupportedMediaType,
)
from werkzeug.routing import IntegerConverter, Map

from skills_service.security.problems import problem
from skills_service.services.common import MAX_ID, NUL_MESSAGE

MAX_QUERY_STRING_BYTES = 4096
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8192
"""One header line, ``Name: value``: a browser's cookies fit, as they do in nginx's buffers."""
MAX_HEADER_BYTES = 32768
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class DatabaseId(IntegerConverter):
    """Every ``<int:...>`` in a route is an id: 1 to ``MAX_ID``, else the route is a 404.

    A larger number names no row, and handed to the database it would overflow the
    column instead of simply matching nothing.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _first_with_nul(fields: MultiDict[str, str]) -> str | None:
    return next((name for name, value in fields.items(multi=True) if "\x00" in name + value), None)


def check_request_size() -> None:
    """The query string and the headers, before anything else reads them (414, 431)."""
    if len(request.query_string) > MAX_QUERY_STRING_BYTES:
        raise RequestURITooLarge("The query string is too long.")
    # The server hands headers over decoded as Latin-1: one character per byte.
    sizes = [len(name) + len(": ") + len(value) for name, value in request.headers.items()]
    if len(sizes) > MAX_HEADER_FIELDS:
        raise RequestHeaderFieldsTooLarge(
            f"The request has more than {MAX_HEADER_FIELDS} header fields."
        )
    if max(sizes, default=0) > MAX_HEADER_FIELD_BYTES:
        raise RequestHeaderFieldsTooLarge(
            f"A header field is longer than {MAX_HEADER_FIELD_BYTES} bytes."
        )
    if sum(sizes) > MAX_HEADER_BYTES:
        raise RequestHeaderFieldsTooLarge(f"The headers are longer than {MAX_HEADER_BYTES} bytes.")


def check_request_shape() -> Response | None:
    """Content types, and no NUL character in a query or form field.

    PostgreSQL cannot store or compare a string holding NUL, so one reaching a query
    would fail there, as a server error, instead of being refused here (400, naming
    the field). Uploaded files are checked by the import itself.
    """
    fields = [("query", request.args)]
    if request.mimetype == "application/x-www-form-urlencoded":
        fields.append(("form", request.form))
    for where, values in fields:
        if (name := _first_with_nul(values)) is not None:
            label = name.replace("\x00", "")[:40]
            return problem(
                400,
                f"The {where} field {label!r} contains a NUL character.",
                field_errors={label: [NUL_MESSAGE]},
            )
    if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
        return None
    accepted = current_app.config["API_BODY_TYPES"].get(request.endpoint, ("application/json",))
    if not request.content_length and request.mimetype == "":
        return None
    if request.mimetype not in accepted:
        raise UnsupportedMediaType(f"Send the body as {' or '.join(accepted)}.")
    return None


def init_app(app: Flask, *, max_body_bytes: int) -> None:
    """Before any route is added (the ``int`` converter must be in place to bind them)
    and before the principal and the route policy, which read headers: sizes come first.

    (The session cookie is read earlier, as the request starts, within the server's
    own limits.)
    """
    app.url_map.converters["int"] = DatabaseId
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config.setdefault("API_BODY_TYPES", {})
    app.before_request(check_request_size)


def init_shape_checks(app: Flask) -> None:
    """After the route policy: an anonymous caller is refused before its body is read."""
    app.before_request(check_request_shape)
