"""Turn every error into an RFC 9457 problem+json answer that leaks nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import (
    Flask,
    Response,
    g,
    has_request_context,
    json,
    render_template,
    request,
    url_for,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from skills_service import errors, pipeline
from skills_service.security import audit_context

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:skills-service:problem:"
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_DETAIL = "The service is temporarily unavailable; try again shortly."

_DOMAIN_STATUS: Mapping[type[errors.DomainError], HTTPStatus] = {
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.Unauthenticated: HTTPStatus.UNAUTHORIZED,
    errors.PreconditionRequired: HTTPStatus.PRECONDITION_REQUIRED,
    errors.PreconditionFailed: HTTPStatus.PRECONDITION_FAILED,
    errors.InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.ImportRejected: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}


MACHINE_PATHS = ("/api/", "/scim/", "/dashboard/_dash-", "/healthz", "/readyz", "/metrics")
"""Paths read by programs, not people: the API, SCIM, Dash's own requests, probes."""


def wants_html() -> bool:
    """Browser pages get HTML errors; the machine paths get problem+json."""
    return has_request_context() and not request.path.startswith(MACHINE_PATHS)


def problem(
    status: int,
    detail: str | None = None,
    *,
    field_errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    phrase = HTTPStatus(status).phrase
    if wants_html():
        return _page(status, phrase, detail or phrase, headers)
    body = problem_body(status, detail, request_id=g.get("request_id", ""))
    if field_errors:
        body["errors"] = dict(field_errors)
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem_body(status: int, detail: str | None, *, request_id: str) -> dict[str, Any]:
    """The members every problem has; also written by the web server itself (``gunicorn_http``)."""
    phrase = HTTPStatus(status).phrase
    return {
        "type": PROBLEM_TYPE + phrase.lower().replace(" ", "-").replace("'", ""),
        "title": phrase,
        "status": status,
        "detail": detail or phrase,
        "request_id": request_id,
    }


def _page(status: int, title: str, detail: str, headers: Mapping[str, str] | None) -> Response:
    if status == HTTPStatus.UNAUTHORIZED:
        target = url_for("auth.login_page", next=request.full_path.rstrip("?"))
        return Response(status=HTTPStatus.FOUND, headers={"Location": target})
    html = render_template(
        "error.html", title=title, detail=detail, request_id=g.get("request_id", "")
    )
    response = Response(html, status=status, mimetype="text/html")
    for name, value in (headers or {}).items():
        if name != "WWW-Authenticate":
            response.headers[name] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"json": {"items": {0: {"level": [...]}}}}`` -> ``{"items.0.level": [...]}``."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(message) for message in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten_messages(value, name))
    return flat


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if "messages" in data:
        per_location = data["messages"]
        field_errors: dict[str, list[str]] = {}
        for location_errors in per_location.values():
            field_errors.update(flatten_messages(location_errors))
        return problem(
            status,
            "The request is not valid.",
            field_errors=field_errors,
            headers=data.get("headers"),
        )
    detail = error.description if status < 500 else None
    allowed_methods = getattr(error, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed_methods)} if allowed_methods else None
    return problem(status, _safe_detail(detail), headers=headers)


def _safe_detail(detail: str | None) -> str | None:
    """Werkzeug's default descriptions are fine; anything long or odd is dropped."""
    if detail is None or len(detail) > 300:
        return None
    return detail


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means a store the request needs is out of reach (answered 503).

    That is: the database refused or lost the connection (SQLAlchemy marks a driver
    error ``connection_invalidated`` when the driver reports a lost connection, whatever
    its class; an ``OperationalError`` is the server failing to serve), no pooled
    connection came free in time, or Redis could not be reached or did not answer.
    """
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError)
    return isinstance(error, PoolTimeout | RedisConnectionError | RedisTimeoutError)


def _outage_summary(error: BaseException) -> str:
    """The error's kind and the driver's first line, for the log (never for the client)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    first_line = str(cause).strip().splitlines()[:1]
    return f"{type(error).__name__}: {first_line[0] if first_line else type(cause).__name__}"


def status_for(error: errors.DomainError) -> HTTPStatus:
    """The HTTP status a domain error stands for (pages re-rendered with an error use it)."""
    return next(
        (code for kind, code in _DOMAIN_STATUS.items() if isinstance(error, kind)),
        HTTPStatus.BAD_REQUEST,
    )


def from_domain_error(error: errors.DomainError) -> Response:
    if isinstance(error, errors.Forbidden):
        audit_context.record_refusal(error)
    status = status_for(error)
    headers = {}
    if isinstance(error, errors.Unauthenticated):
        challenge = 'Bearer realm="skills-service"'
        if isinstance(error, errors.InvalidCredentials):
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    field_errors = error.errors if isinstance(error, errors.InvalidInput) else None
    extra = None
    if isinstance(error, errors.ImportRejected):
        extra = {"line_errors": [vars(line) for line in error.line_errors]}
    if isinstance(error, errors.Unavailable):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return problem(
        int(status), error.detail, field_errors=field_errors, headers=headers, extra=extra
    )


def from_stale_data(_error: StaleDataError) -> Response:
    return problem(412, "The resource has changed since it was read; fetch it again.")


def from_integrity_error(_error: IntegrityError) -> Response:
    log.warning("integrity error answered as conflict")
    return problem(409, "The change conflicts with existing data.")


def from_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return from_http_exception(error)
    if is_outage(error):
        log.error("backing store unavailable (%s)", _outage_summary(error))
        return from_domain_error(errors.Unavailable(UNAVAILABLE_DETAIL))
    log.exception("unhandled error")
    return problem(500, "An unexpected error occurred; quote the request id when reporting it.")


KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "ETag")


def errors_as_problems(response: Response) -> Response:
    """An error answer that is not JSON, made by a view or a library itself on a machine
    path (a static file's conditional 412, say), becomes problem+json like every other
    error there. JSON answers stay: problems, and the readiness probe's reasons."""
    if response.status_code < 400 or wants_html() or response.is_json:
        return response
    replaced = problem(response.status_code)
    for name in KEPT_HEADERS:
        if name in response.headers:
            replaced.headers[name] = response.headers[name]
    response.close()
    return replaced


def init_app(app: Flask) -> None:
    pipeline.after(app, errors_as_problems)
    app.register_error_handler(HTTPException, from_http_exception)
    app.register_error_handler(errors.DomainError, from_domain_error)
    app.register_error_handler(StaleDataError, from_stale_data)
    app.register_error_handler(IntegrityError, from_integrity_error)
    app.register_error_handler(Exception, from_unexpected)
