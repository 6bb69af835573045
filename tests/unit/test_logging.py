"""Logs are JSON, one object per line, and never carry secrets."""

from __future__ import annotations

import json
import logging

from skills_service.observability.logging import REDACTED, JsonFormatter, redact


def format_record(message: str, **extra: object) -> dict[str, object]:
    record = logging.makeLogRecord({"msg": message, "levelname": "INFO", "name": "t", **extra})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_a_record_is_one_json_object() -> None:
    entry = format_record("hello", status=200)
    assert entry["message"] == "hello"
    assert entry["status"] == 200
    assert entry["level"] == "info"


def test_secret_fields_are_redacted_by_name() -> None:
    entry = format_record(
        "x", password="hunter2hunter2", authorization="Bearer abc", session_cookie="s", api_key="k"
    )
    for key in ("password", "authorization", "session_cookie", "api_key"):
        assert entry[key] == REDACTED


def test_tokens_inside_messages_are_redacted() -> None:
    token = "sks_" + "A" * 43
    entry = format_record(f"failed with {token} and Bearer eyJhbGciOi.x.y")
    assert token not in str(entry["message"])
    assert "eyJhbGciOi" not in str(entry["message"])


def test_nested_structures_are_redacted() -> None:
    assert redact({"outer": {"token": "t", "ok": 1}}) == {"outer": {"token": REDACTED, "ok": 1}}
