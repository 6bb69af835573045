"""Each request is logged once, as JSON, with who, what, outcome and duration."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from skills_service.observability.logging import JsonFormatter
from tests.conftest import Actor


def test_a_request_is_logged_with_route_status_principal_and_duration(
    client: FlaskClient, member: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="skills_service.access"):
        response = client.get("/api/v1/me", headers=member.headers)
    entries = [
        json.loads(JsonFormatter().format(r))
        for r in caplog.records
        if r.name == "skills_service.access"
    ]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["route"] == "/api/v1/me"
    assert entry["status"] == 200
    assert entry["principal"] == member.person_id
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(entry["duration_ms"], float)


def test_credentials_never_reach_the_logs(
    client: FlaskClient, member: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        client.get("/api/v1/me", headers=member.headers)
        client.get("/api/v1/me", headers={"Authorization": "Bearer sks_" + "B" * 43})
        client.get(f"/api/v1/skills?q={member.token}", headers=member.headers)
    formatted = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert member.token not in formatted
    assert "sks_" + "B" * 43 not in formatted
