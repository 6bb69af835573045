"""Rate limits: per credential and per address, stricter where it matters, shared by replicas."""

from __future__ import annotations

import logging
import uuid

import pytest
from flask import Flask

from skills_service.settings import Settings
from tests.conftest import REDIS_URL, MakeActor, MakeApp, changed
from tests.integration.responses import assert_problem


def limited_app(make_app: MakeApp, settings: Settings, **limits: object) -> Flask:
    return make_app(changed(settings, **limits))


def from_address(address: str) -> dict[str, str]:
    return {"REMOTE_ADDR": address}


def test_each_credential_has_its_own_budget_and_429_says_when_to_retry(
    make_app: MakeApp, settings: Settings
) -> None:
    app = limited_app(make_app, settings, ratelimit_default="3/minute")
    client = app.test_client()
    first = {"Authorization": "Bearer sks_" + "a" * 43}
    second = {"Authorization": "Bearer sks_" + "b" * 43}
    answers = [client.get("/api/v1/me", headers=first).status_code for _ in range(3)]
    assert answers == [401, 401, 401]
    refused = client.get("/api/v1/me", headers=first)
    body = assert_problem(refused, 429)
    assert "3 per 1 minute" in body["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert client.get("/api/v1/me", headers=second).status_code == 401


def test_every_answer_tells_the_client_its_budget(
    make_app: MakeApp, settings: Settings, make_actor: MakeActor
) -> None:
    app = limited_app(make_app, settings, ratelimit_default="50/minute")
    client = app.test_client()
    response = client.get("/api/v1/skills", headers={"Authorization": "Bearer sks_" + "c" * 43})
    assert response.headers["RateLimit-Limit"] == "50"
    assert response.headers["RateLimit-Remaining"] == "49"
    assert 0 <= int(response.headers["RateLimit-Reset"]) <= 60
    assert "X-RateLimit-Limit" not in response.headers


def test_one_address_is_bounded_however_many_credentials_it_tries(
    make_app: MakeApp, settings: Settings
) -> None:
    app = limited_app(make_app, settings, ratelimit_per_address="5/minute")
    client = app.test_client()
    answers = [
        client.get(
            "/api/v1/me",
            headers={"Authorization": f"Bearer sks_{uuid.uuid4().hex:0<43}"},
            environ_base=from_address("192.0.2.10"),
        ).status_code
        for _ in range(6)
    ]
    assert answers == [401] * 5 + [429]
    other = client.get("/api/v1/me", environ_base=from_address("192.0.2.11"))
    assert other.status_code == 401


def test_probes_and_static_assets_are_never_limited(make_app: MakeApp, settings: Settings) -> None:
    app = limited_app(make_app, settings, ratelimit_per_address="2/minute")
    client = app.test_client()
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        with client.get("/static/app.css") as asset:
            assert asset.status_code == 200
    assert client.get("/login").status_code == 200


def test_diagnostics_spend_a_stricter_budget(
    make_app: MakeApp, settings: Settings, make_actor: MakeActor
) -> None:
    actor = make_actor("member")
    app = limited_app(make_app, settings, ratelimit_sensitive="2/minute")
    client = app.test_client()
    hello = "/api/v1/diagnostics/hello?name=Ada"
    answers = [client.get(hello, headers=actor.headers).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert client.get("/api/v1/skills", headers=actor.headers).status_code == 200


def test_a_malformed_limit_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="300/minute"):
        Settings(ratelimit_default="lots")


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
def test_two_replicas_share_one_budget_through_redis(make_app: MakeApp, settings: Settings) -> None:
    shared = changed(settings, ratelimit_storage_url=REDIS_URL, ratelimit_per_address="4/minute")
    replicas = [make_app(shared).test_client(), make_app(shared).test_client()]
    address = from_address(f"198.51.100.{uuid.uuid4().int % 250 + 1}")
    answers = [replicas[n % 2].get("/login", environ_base=address).status_code for n in range(5)]
    assert answers == [200, 200, 200, 200, 429]


def test_an_unreachable_redis_falls_back_to_in_process_limits_and_says_so(
    make_app: MakeApp, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = limited_app(
        make_app,
        settings,
        ratelimit_storage_url="redis://127.0.0.1:1/0?socket_connect_timeout=0.2",
        ratelimit_per_address="3/minute",
    )
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        answers = [client.get("/login").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    fallbacks = [r for r in caplog.records if "falling back to in-memory" in r.getMessage()]
    assert len(fallbacks) == 1
