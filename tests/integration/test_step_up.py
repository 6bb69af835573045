"""Step-up: enrolling a second factor and creating tokens need a recent re-authentication."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from skills_service.auth import sessions
from skills_service.extensions import db
from skills_service.services import people, tokens
from skills_service.settings import Settings
from tests.conftest import PASSWORD, REDIS_URL, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import (
    CSRF_FIELD,
    SAME_ORIGIN,
    post_form,
    session_cookie,
    sign_in,
    with_password,
)
from tests.integration.test_oidc_login import (  # noqa: F401 - fixtures used by name
    provider,
    register_user,
    sso_app,
    sso_round_trip,
)

TOTP_KEY = re.compile(r"enter this key by hand: <code>([A-Z2-7]+)</code>")
STOLEN_FROM = "203.0.113.66"
STORES = ["database", *(["redis"] if REDIS_URL else [])]
CONFIRM = "/account/confirm"


@pytest.fixture(params=STORES)
def web_app(request: pytest.FixtureRequest, settings: Settings, make_app: MakeApp) -> Flask:
    store = {"redis_url": REDIS_URL} if request.param == "redis" else {}
    return make_app(changed(settings, login_account_rate_limit="3/hour", **store))


@pytest.fixture
def person(web_app: Flask, make_actor: MakeActor) -> Actor:
    return with_password(web_app, make_actor)


def later(app: Flask, seconds: float) -> None:
    """Move the session clock forward."""
    interface = app.session_interface
    assert isinstance(interface, sessions.ServerSessionInterface)
    base = interface.clock()
    interface.clock = lambda: base + seconds


def old_session(app: Flask, person: Actor) -> FlaskClient:
    """Signed in more than the step-up window ago."""
    client = app.test_client()
    assert sign_in(client, person.email, PASSWORD).status_code == 302
    later(app, sessions.RECENT_AUTHENTICATION_SECONDS + 1)
    return client


def token_count(app: Flask, person: Actor) -> int:
    with app.app_context():
        return len(tokens.tokens_of(db.session, person.person_id))


def mfa_enabled(app: Flask, person: Actor) -> bool:
    with app.app_context():
        return people.get_person(db.session, person.person_id).mfa_enabled_at is not None


def create_token(client: FlaskClient) -> object:
    data = {"name": "laptop", "scopes": ["read"], "expires_days": "7"}
    return post_form(client, "/account/tokens", data, token_from="/login")


def confirm(client: FlaskClient, password: str, back: str = "/account") -> object:
    return post_form(client, f"{CONFIRM}?next={back}", {"password": password})


def enrol(client: FlaskClient) -> Any:
    """Turn on a second factor from the enrolment page, as a browser would."""
    page = client.get("/account/mfa").get_data(as_text=True)
    key, token = TOTP_KEY.search(page), CSRF_FIELD.search(page)
    assert key and token
    return client.post(
        "/account/mfa",
        data={"code": pyotp.TOTP(key.group(1)).now(), "csrf_token": token.group(1)},
        headers=SAME_ORIGIN,
    )


def test_a_fresh_sign_in_counts_as_recent(web_app: Flask, person: Actor) -> None:
    client = web_app.test_client()
    sign_in(client, person.email, PASSWORD)
    assert client.get("/account/mfa").status_code == 200
    assert create_token(client).headers["Location"] == "/account"
    assert token_count(web_app, person) == 2


def test_an_old_session_cannot_enrol_a_second_factor_without_the_password(
    web_app: Flask, person: Actor
) -> None:
    client = old_session(web_app, person)
    page = client.get("/account/mfa")
    assert page.headers["Location"] == f"{CONFIRM}?next=/account/mfa"
    posted = post_form(client, "/account/mfa", {"code": "123456"}, token_from="/login")
    assert posted.headers["Location"].startswith(CONFIRM)
    assert not mfa_enabled(web_app, person)


def test_an_old_session_cannot_create_a_token_without_the_password(
    web_app: Flask, person: Actor
) -> None:
    client = old_session(web_app, person)
    assert create_token(client).headers["Location"].startswith(CONFIRM)
    assert token_count(web_app, person) == 1


def test_with_the_password_an_old_session_enrols_and_creates_tokens(
    web_app: Flask, person: Actor
) -> None:
    client = old_session(web_app, person)
    assert confirm(client, PASSWORD, "/account/mfa").headers["Location"] == "/account/mfa"
    assert enrol(client).status_code == 200
    assert mfa_enabled(web_app, person)
    assert create_token(client).headers["Location"] == "/account"
    assert token_count(web_app, person) == 2


def test_an_old_session_cannot_change_the_password_without_it(
    web_app: Flask, person: Actor
) -> None:
    client = old_session(web_app, person)
    new = {"current_password": "a guess at the password", "new_password": "another long phrase"}
    assert post_form(client, "/account/password", new).status_code == 422
    assert sign_in(web_app.test_client(), person.email, PASSWORD).status_code == 302


def test_a_stolen_session_cannot_guess_the_password_through_the_confirmation(
    web_app: Flask, person: Actor
) -> None:
    client = old_session(web_app, person)
    client.environ_base["REMOTE_ADDR"] = STOLEN_FROM
    answers = [confirm(client, f"guess number {n} at it").status_code for n in range(3)]
    assert answers == [401, 401, 401]
    refused = confirm(client, PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert create_token(client).headers["Location"].startswith(CONFIRM)
    guess = {"current_password": PASSWORD, "new_password": "a new long passphrase of mine"}
    assert post_form(client, "/account/password", guess).status_code == 429
    assert token_count(web_app, person) == 1


def test_a_wrong_confirmation_is_refused_and_audited(
    web_app: Flask, person: Actor, admin: Actor
) -> None:
    client = old_session(web_app, person)
    assert confirm(client, "not the password at all").status_code == 401
    assert create_token(client).headers["Location"].startswith(CONFIRM)
    events = web_app.test_client().get(
        "/api/v1/audit", query_string={"action": "reauthentication.failed"}, headers=admin.headers
    )
    assert [event["target_id"] for event in events.json["items"]] == [str(person.person_id)]


def test_bearer_tokens_cannot_create_tokens_or_enrol(web_app: Flask, make_actor: MakeActor) -> None:
    actor = make_actor("member")
    client = web_app.test_client()
    body = {"name": "minted", "scopes": "write", "expires_days": "7"}
    assert client.post("/account/tokens", data=body, headers=actor.headers).status_code == 403
    assert client.post("/account/mfa", data={"code": "1"}, headers=actor.headers).status_code == 403
    assert token_count(web_app, actor) == 1


def test_the_session_id_is_rotated_at_step_up_and_at_enrolment(
    web_app: Flask, person: Actor
) -> None:
    client = old_session(web_app, person)
    before = session_cookie(client)
    confirm(client, PASSWORD, "/account/mfa")
    after_step_up = session_cookie(client)
    assert after_step_up and after_step_up != before
    assert enrol(client).status_code == 200
    after_enrolment = session_cookie(client)
    assert after_enrolment and after_enrolment not in (before, after_step_up)
    for stale in (before, after_step_up):
        replay = web_app.test_client()
        replay.set_cookie("skills_session", str(stale))
        assert replay.get("/account").status_code == 302


def test_an_sso_only_account_steps_up_with_a_fresh_provider_sign_in(
    sso_app: Flask, provider: str
) -> None:
    app = sso_app
    register_user(provider, "sso-only", email="sso.only@example.org", email_verified=True)
    client = app.test_client()
    assert sso_round_trip(client, "sso-only").status_code == 302
    later(app, sessions.RECENT_AUTHENTICATION_SECONDS + 1)
    assert create_token(client).headers["Location"] == f"{CONFIRM}?next=/account"
    page = client.get(f"{CONFIRM}?next=/account").get_data(as_text=True)
    assert "Confirm with SSO" in page and 'type="password"' not in page
    start = client.get("/login/sso?reauthenticate=1")
    authorize_url = start.headers["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    approved = requests.post(
        authorize_url, data={"sub": "sso-only"}, allow_redirects=False, timeout=5
    )
    back = urlsplit(approved.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").headers["Location"] == "/account"
    assert create_token(client).headers["Location"] == "/account"
