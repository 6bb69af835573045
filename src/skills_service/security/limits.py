"""Size limits on bodies, query strings, headers and path ids, the content types the API
accepts, the bounded JSON reader of request bodies, and refused text in queries and forms.

The limits on the request line and the headers are the app's own, below those of the
web server (``gunicorn_conf.py``) and of the proxy in front (``deploy/nginx/``), so
that an over-long query string or header is refused here, as the service's problem
(or page), not by the server with a page of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, current_app, request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import (
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
    UnsupportedMediaType,
)
from werkzeug.routing import IntegerConverter, Map

from skills_service import pipeline
from skills_service.security.json_body import RequestJSON
from skills_service.security.problems import problem
from skills_service.services.common import MAX_ID, TEXT_FAULT_NAMES, printable, text_fault

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

MAX_QUERY_STRING_BYTES = 4096
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8192
"""One header line, ``Name: value``: a browser's cookies fit, as they do in nginx's buffers."""
MAX_HEADER_BYTES = 32768
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_UPLOAD_BYTES = "SKILLS_MAX_UPLOAD_BYTES"
UPLOAD_ENDPOINTS = "SKILLS_UPLOAD_ENDPOINTS"
CONTENT_HEADERS = ("CONTENT_TYPE", "CONTENT_LENGTH")
SHADOWED_CONTENT_HEADERS = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})
"""Werkzeug lists the content headers from ``CONTENT_*`` and skips these duplicates."""


class DatabaseId(IntegerConverter):
    """Every ``<int:...>`` in a route is an id: 1 to ``MAX_ID``, else the route is a 404.

    A larger number names no row, and handed to the database it would overflow the
    column instead of simply matching nothing.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class BoundedRequest(Request):
    """A request whose JSON body is read within bounds (``json_body``) and whose body
    limit is the upload limit on the routes that take a file.

    The limit is decided by the route before anything reads the body (CSRF and form
    checks read it first), so a file between the body and the upload limits is
    accepted there and nowhere else.
    """

    @property
    def json_module(self) -> Any:
        return RequestJSON

    @json_module.setter
    def json_module(self, _provider: object) -> None:
        """Flask's request context assigns the app's JSON provider here, whose ``loads``
        is unbounded; a request body is read by the bounded reader all the same."""

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and self.endpoint in current_app.config.get(
            UPLOAD_ENDPOINTS, ()
        ):
            upload_bytes: int = current_app.config[MAX_UPLOAD_BYTES]
            return upload_bytes
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def _texts_of(fields: MultiDict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field name, text) for every name and value; an uploaded file is its name.

    A multipart part may come without a name (werkzeug keys it ``None``): it is read
    as the empty name, which no form declares.
    """
    for raw_name, value in fields.items(multi=True):
        name = raw_name or ""
        yield name, name
        if isinstance(value, FileStorage):
            yield name, value.filename or ""
        elif isinstance(value, str):
            yield name, value


def header_sizes(environ: WSGIEnvironment) -> list[int]:
    """The length of each header line, ``Name: value``, as ``request.headers`` lists them.

    Read from the WSGI environment, where a header's name is as long as it is on the
    wire (``HTTP_X_REQUEST_ID``, ``X-Request-ID``), without building the names. The
    server hands headers over decoded as Latin-1: one character per byte.
    """
    sizes = [
        len(key) - len("HTTP_") + len(": ") + len(value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in SHADOWED_CONTENT_HEADERS
    ]
    sizes += [
        len(key) + len(": ") + len(value) for key in CONTENT_HEADERS if (value := environ.get(key))
    ]
    return sizes


def check_request_size() -> None:
    """The query string and the headers, before anything else reads them (414, 431)."""
    if len(request.query_string) > MAX_QUERY_STRING_BYTES:
        raise RequestURITooLarge("The query string is too long.")
    sizes = header_sizes(request.environ)
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
    """Content types, and no text ``text_fault`` refuses in a query string, a form field
    (either encoding) or an uploaded file's name.

    One refused character reaching the database would fail there, as a server error,
    instead of being refused here (400, naming the field). Uploaded files' contents are
    checked by the import itself.
    """
    fields: list[tuple[str, MultiDict[str, Any]]] = []
    if request.query_string:
        fields.append(("query", request.args))
    if request.content_type and request.mimetype in FORM_TYPES:
        fields += [("form", request.form), ("file", request.files)]
    for where, values in fields:
        for name, text in _texts_of(values):
            if (fault := text_fault(text)) is not None:
                label = printable(name)[:40]
                return problem(
                    400,
                    f"The {where} field {label!r} contains {TEXT_FAULT_NAMES[fault]}.",
                    field_errors={label: [fault]},
                )
    if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
        return None
    accepted = current_app.config["API_BODY_TYPES"].get(request.endpoint, ("application/json",))
    if not request.content_length and request.mimetype == "":
        return None
    if request.mimetype not in accepted:
        raise UnsupportedMediaType(f"Send the body as {' or '.join(accepted)}.")
    return None


def init_app(
    app: Flask, *, max_body_bytes: int, max_upload_bytes: int, upload_endpoints: Iterable[str]
) -> None:
    """Before any route is added (the ``int`` converter must be in place to bind them)
    and before the principal and the route policy, which read headers: sizes come first.

    (The session cookie is read earlier, as the request starts, within the server's
    own limits.)
    """
    app.url_map.converters["int"] = DatabaseId
    app.request_class = BoundedRequest
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config[MAX_UPLOAD_BYTES] = max_upload_bytes
    app.config[UPLOAD_ENDPOINTS] = frozenset(upload_endpoints)
    app.config.setdefault("API_BODY_TYPES", {})
    pipeline.before(app, check_request_size)


def init_shape_checks(app: Flask) -> None:
    """After the route policy: an anonymous caller is refused before its body is read."""
    pipeline.before(app, check_request_shape)
