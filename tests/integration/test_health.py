"""Liveness and readiness: readiness names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from skills_service.settings import Settings
from tests.conftest import REDIS_URL, TEST_SECRET_KEY, MakeApp, changed


def test_healthz_answers_without_authentication(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


def test_readyz_is_503_when_the_schema_is_not_migrated(tmp_path: Path, make_app: MakeApp) -> None:
    settings = Settings(
        secret_key=TEST_SECRET_KEY,
        instance_path=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
    )
    response = make_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reasons"] == ["database schema is not at the latest migration"]


def test_readyz_is_503_when_redis_is_unreachable(settings: Settings, make_app: MakeApp) -> None:
    broken = changed(settings, redis_url="redis://127.0.0.1:1/0")
    response = make_app(broken).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reasons"] == ["redis unreachable"]


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
def test_readyz_checks_a_reachable_redis(settings: Settings, make_app: MakeApp) -> None:
    with_redis = changed(settings, redis_url=REDIS_URL)
    assert make_app(with_redis).test_client().get("/readyz").status_code == 200


def test_every_response_carries_a_request_id(client: FlaskClient) -> None:
    supplied = client.get("/healthz", headers={"X-Request-ID": "abcdef12-trace"})
    assert supplied.headers["X-Request-ID"] == "abcdef12-trace"
    forged = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert forged.headers["X-Request-ID"] != "bad id <script>"
    assert len(forged.headers["X-Request-ID"]) == 32
