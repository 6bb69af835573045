"""One JSON object per log line on stdout, with the request's id and principal.

Values under keys that look secret (passwords, tokens, cookies, keys) are replaced
before formatting, and so are bearer tokens that slip into messages.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

SECRET_KEY_PATTERN = re.compile(
    r"pass(word)?|secret|token|authori[sz]ation|cookie|api[-_]?key|session|credential", re.I
)
SECRET_VALUE_PATTERN = re.compile(r"(sks_[A-Za-z0-9_-]{8,}|Bearer\s+[^\s\"']+)")
REDACTED = "[redacted]"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

access_log = logging.getLogger("skills_service.access")


def redact(value: Any, key: str = "") -> Any:
    if key and SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return SECRET_VALUE_PATTERN.sub(REDACTED, value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if has_request_context():
            entry.update(_request_fields())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _request_fields() -> dict[str, Any]:
    principal = g.get("principal")
    return {
        "request_id": g.get("request_id"),
        "principal": principal.person_id if principal is not None else None,
    }


def configure(level: str) -> None:
    """Route the root logger to stdout as JSON (idempotent)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _start_request() -> None:
    g.started = time.perf_counter()
    supplied = request.headers.get("X-Request-ID", "")
    g.request_id = supplied if REQUEST_ID_PATTERN.match(supplied) else uuid.uuid4().hex


def _log_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    started = g.get("started")
    duration_ms = (time.perf_counter() - started) * 1000 if started is not None else None
    access_log.info(
        "request",
        extra={
            **_request_fields(),
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule else None,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration_ms, 2) if duration_ms is not None else None,
            "remote_addr": request.remote_addr,
        },
    )
    return response


def init_app(app: Flask, *, level: str) -> None:
    configure(level)
    app.before_request(_start_request)
    app.after_request(_log_request)
