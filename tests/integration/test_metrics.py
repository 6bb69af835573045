"""``/metrics``: Prometheus text for a scraper with the token, nothing for anyone else."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service.settings import Settings
from tests.conftest import MakeActor, MakeApp, changed
from tests.integration.browser import post_form, sign_in, signed_in
from tests.integration.responses import assert_problem

METRICS_TOKEN = "m" * 40
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def metrics_app(make_app: MakeApp, settings: Settings) -> Flask:
    return make_app(changed(settings, metrics_token=METRICS_TOKEN, login_rate_limit="2/minute"))


def sample(client: FlaskClient, name: str, **labels: str) -> float:
    """The value of one series in a scrape (0 when it has not been written yet)."""
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
        if not labels and line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_without_a_token_configured_there_is_no_metrics_endpoint(client: FlaskClient) -> None:
    assert_problem(client.get("/metrics"), 404)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-of-the-right-length-xxxxxxxxx", f"Basic {METRICS_TOKEN}"],
)
def test_a_scrape_without_the_token_is_refused(metrics_app: Flask, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = metrics_app.test_client().get("/metrics", headers=headers)
    assert_problem(response, 401)
    assert "skills_http_requests_total" not in response.get_data(as_text=True)


def test_requests_are_counted_by_route_template_and_status(
    metrics_app: Flask, make_actor: MakeActor
) -> None:
    actor = make_actor("member")
    client = metrics_app.test_client()
    labels = {"method": "GET", "route": "/api/v1/people/<int:person_id>", "status": "200"}
    before = sample(client, "skills_http_requests_total", **labels)
    assert client.get(f"/api/v1/people/{actor.person_id}", headers=actor.headers).status_code == 200
    assert sample(client, "skills_http_requests_total", **labels) == before + 1
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert "skills_http_request_duration_seconds_bucket" in text
    assert "skills_db_pool_checked_out" in text
    assert actor.token not in text and f"/people/{actor.person_id}" not in text


def test_login_failures_and_rate_limit_refusals_are_counted(
    metrics_app: Flask, make_actor: MakeActor
) -> None:
    actor = make_actor("member")
    client = metrics_app.test_client()
    failures = sample(client, "skills_login_failures_total", step="password")
    limited = sample(client, "skills_rate_limited_total", route="/login")
    answers = [
        sign_in(client, actor.email, "not the password at all").status_code for _ in range(3)
    ]
    assert answers == [401, 401, 429]
    assert sample(client, "skills_login_failures_total", step="password") == failures + 2
    assert sample(client, "skills_rate_limited_total", route="/login") == limited + 1


def test_a_short_metrics_token_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(metrics_token="short")


def test_wrong_password_confirmations_are_counted_as_failures(
    metrics_app: Flask, make_actor: MakeActor
) -> None:
    browser = signed_in(metrics_app, make_actor("member"))
    before = sample(browser, "skills_login_failures_total", step="re-authentication")
    refused = post_form(browser, "/account/confirm", {"password": "not the password at all"})
    assert refused.status_code == 401
    after = sample(browser, "skills_login_failures_total", step="re-authentication")
    assert after == before + 1
