"""Behind a trusted proxy the app sees the client's address, scheme and host; only there."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from skills_service.observability.logging import JsonFormatter
from skills_service.settings import Settings
from tests.conftest import MakeApp, changed
from tests.integration.browser import csrf_token

INGRESS = "10.0.0.1"
PUBLIC = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "skills.example.org"}


@pytest.fixture
def proxied_app(settings: Settings, make_app: MakeApp) -> Flask:
    return make_app(changed(settings, trusted_proxies=("10.0.0.0/8",)))


def test_the_access_log_records_the_client_only_as_a_trusted_proxy_reports_it(
    proxied_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = proxied_app.test_client()
    with caplog.at_level("INFO", logger="skills_service.access"):
        for peer, forwarded_for in ((INGRESS, "203.0.113.7"), ("198.51.100.1", "203.0.113.8")):
            client.get(
                "/healthz",
                headers={"X-Forwarded-For": forwarded_for},
                environ_base={"REMOTE_ADDR": peer},
            )
    logged = [
        json.loads(JsonFormatter().format(record))["remote_addr"]
        for record in caplog.records
        if record.name == "skills_service.access"
    ]
    assert logged == ["203.0.113.7", "198.51.100.1"]


def test_the_same_origin_check_uses_the_public_origin_a_trusted_proxy_reports(
    proxied_app: Flask,
) -> None:
    form = {"email": "nobody@example.org", "password": "not the right password at all"}
    origin = {
        "Origin": "https://skills.example.org",
        "Referer": "https://skills.example.org/login",
        "Sec-Fetch-Site": "same-origin",
    }
    for peer, status in ((INGRESS, 401), ("198.51.100.1", 403)):
        client = proxied_app.test_client()
        client.environ_base["REMOTE_ADDR"] = peer
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={**form, "csrf_token": token}, headers={**PUBLIC, **origin}
        )
        assert response.status_code == status
