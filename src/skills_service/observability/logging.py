"""One JSON object per log line on stdout, with the request's id and principal.

Values under keys that look secret (passwords, tokens, cookies, keys) are replaced
before formatting, and so are bearer tokens that slip into messages.

Every request is logged once (logger ``skills_service.access``), and a line is made
with one serialisation (orjson). The record is built straight from the access log's
fields, without looking up the caller's frame; the thread and process names that
``logging`` would otherwise look up for every record are not collected, since no line
carries them.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from flask import Flask, Response, g, has_request_context, request

from skills_service import pipeline

SECRET_KEY_PATTERN = re.compile(
    r"pass(word)?|secret|token|authori[sz]ation|cookie|api[-_]?key|session|credential", re.I
)
SECRET_VALUE_PATTERN = re.compile(r"(sks_[A-Za-z0-9_-]{8,}|Bearer\s+[^\s\"']+)")
REDACTED = "[redacted]"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_ENCODING = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
"""As ``json.dumps(default=str)`` wrote them: dates and dataclasses through ``str``."""

access_log = logging.getLogger("skills_service.access")


@lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return SECRET_KEY_PATTERN.search(key) is not None


def _redact_text(value: str) -> str:
    # Every match of SECRET_VALUE_PATTERN starts with one of these: other text is kept.
    if "sks_" not in value and "Bearer" not in value:
        return value
    return SECRET_VALUE_PATTERN.sub(REDACTED, value)


def redact(value: Any, key: str = "") -> Any:
    if key and _secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _serialised(entry: dict[str, Any]) -> str:
    """One line of JSON; a value orjson cannot write (an integer past 64 bits) falls back
    to the standard library, so that no line is lost."""
    try:
        return orjson.dumps(entry, default=str, option=_ENCODING).decode()
    except orjson.JSONEncodeError:
        return json.dumps(entry, default=str, ensure_ascii=False)


@lru_cache(maxsize=2)
def _utc_second(second: int) -> str:
    """``2026-01-31T12:34:56``: the part of a line's time that changes once a second."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _utc_time(record: logging.LogRecord) -> str:
    """The record's time in ISO 8601 with milliseconds, as ``isoformat`` writes it."""
    return f"{_utc_second(int(record.created))}.{int(record.msecs):03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        # The access log's record carries the request's fields already.
        if "request_id" not in record.__dict__ and has_request_context():
            entry.update(_request_fields())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return _serialised(entry)


def _request_fields() -> dict[str, Any]:
    principal = g.get("principal")
    return {
        "request_id": g.get("request_id"),
        "principal": principal.person_id if principal is not None else None,
    }


def configure(level: str) -> None:
    """Route the root logger to stdout as JSON (idempotent); records skip the thread and
    process names, which no line carries."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _start_request() -> None:
    """The request's start (its duration, in the log and the metrics) and its id."""
    g.started = time.perf_counter()
    supplied = request.environ.get("HTTP_X_REQUEST_ID", "")
    g.request_id = supplied if REQUEST_ID_PATTERN.match(supplied) else secrets.token_hex(16)


def _log_request(response: Response) -> Response:
    request_id = g.get("request_id", "")
    response.headers["X-Request-ID"] = request_id
    if not access_log.isEnabledFor(logging.INFO):
        return response
    started = g.get("started")
    principal = g.get("principal")
    rule = request.url_rule
    fields = {
        "request_id": request_id,
        "principal": principal.person_id if principal is not None else None,
        "method": request.method,
        "route": rule.rule if rule is not None else None,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": (
            round((time.perf_counter() - started) * 1000, 2) if started is not None else None
        ),
        "remote_addr": request.remote_addr,
    }
    record = access_log.makeRecord(
        access_log.name, logging.INFO, "", 0, "request", (), None, extra=fields
    )
    access_log.handle(record)
    return response


def init_app(app: Flask, *, level: str) -> None:
    configure(level)
    pipeline.before(app, _start_request)
    pipeline.after(app, _log_request)
