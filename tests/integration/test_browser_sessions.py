"""Browser sign-in: server-side sessions, rotation, revocation, CSRF, throttling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service.auth import sessions
from skills_service.settings import Settings
from tests.conftest import PASSWORD, REDIS_URL, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import (
    SAME_ORIGIN,
    csrf_token,
    post_form,
    session_cookie,
    set_password,
    sign_in,
    signed_in,
)

STORES = ["database", *(["redis"] if REDIS_URL else [])]


@pytest.fixture(params=STORES)
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "redis":
        return changed(settings, redis_url=REDIS_URL)
    return settings


@pytest.fixture
def web_app(store_settings: Settings, make_app: MakeApp) -> Flask:
    return make_app(store_settings)


@pytest.fixture
def person(web_app: Flask, make_actor: MakeActor) -> Actor:
    actor = make_actor("member")
    set_password(web_app, actor.person_id, PASSWORD)
    return actor


def test_the_login_page_carries_a_csrf_token(web_app: Flask) -> None:
    assert csrf_token(web_app.test_client(), "/login")


def test_signing_in_rotates_the_session_id(web_app: Flask, person: Actor) -> None:
    client = web_app.test_client()
    csrf_token(client, "/login")
    before = session_cookie(client)
    response = sign_in(client, person.email, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    after = session_cookie(client)
    assert before and after and before != after
    assert client.get("/account").status_code == 200


def test_development_cookie_is_httponly_and_samesite_lax(web_app: Flask, person: Actor) -> None:
    client = web_app.test_client()
    response = sign_in(client, person.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_production_cookie_is_host_prefixed_and_secure(
    settings: Settings, make_app: MakeApp, make_actor: MakeActor
) -> None:
    production = changed(settings, env="production", allow_sqlite=True)
    app = make_app(production)
    client = app.test_client()
    client.get("/login", base_url="https://localhost")
    cookie = client.get_cookie("__Host-skills_session", domain="localhost")
    assert cookie is not None
    assert cookie.secure and cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(web_app: Flask, person: Actor) -> None:
    client = web_app.test_client()
    wrong = sign_in(client, person.email, "not the right password at all")
    unknown = sign_in(client, "nobody@example.org", "not the right password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email address or password is not correct." in wrong.get_data(as_text=True)
    assert _without_form_values(wrong) == _without_form_values(unknown)


def _without_form_values(response: Any) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', response.get_data(as_text=True))


def test_a_forged_session_id_is_just_anonymous(web_app: Flask) -> None:
    client = web_app.test_client()
    client.set_cookie("skills_session", "forged-" + "x" * 40)
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    client.set_cookie("skills_session", "y" * 3000)
    assert client.get("/account").status_code == 302


class RecordingStore:
    """The app's session store, noting each call made to it."""

    def __init__(self, store: sessions.SessionStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def load(self, key: str) -> sessions.SessionRecord | None:
        self.calls.append("load")
        return self.store.load(key)

    def save(self, key: str, record: sessions.SessionRecord, ttl_seconds: int) -> None:
        self.calls.append("save")
        self.store.save(key, record, ttl_seconds)

    def delete(self, key: str) -> None:
        self.calls.append("delete")
        self.store.delete(key)

    def delete_for_person(self, person_id: int) -> None:
        self.calls.append("delete_for_person")
        self.store.delete_for_person(person_id)


def recording_store(app: Flask) -> RecordingStore:
    interface = app.session_interface
    assert isinstance(interface, sessions.ServerSessionInterface)
    recording = RecordingStore(interface.store)
    interface.store = recording
    return recording


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/v1/me", "/api/v1/skills", "/api/v1/no-such-resource"]
)
def test_a_request_without_a_cookie_never_touches_the_session_store(
    web_app: Flask, person: Actor, path: str
) -> None:
    store = recording_store(web_app)
    response = web_app.test_client().get(path, headers=person.headers)
    assert response.status_code < 500
    assert store.calls == []
    assert "Set-Cookie" not in response.headers


def test_a_request_without_a_cookie_gets_one_when_its_session_is_used(web_app: Flask) -> None:
    store = recording_store(web_app)
    client = web_app.test_client()
    assert csrf_token(client, "/login")
    assert store.calls == ["save"]
    assert session_cookie(client)


def test_a_request_with_a_cookie_reads_its_session(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    store = recording_store(web_app)
    assert client.get("/api/v1/me").status_code == 200
    assert store.calls == ["load"]


def test_logout_ends_the_session_server_side(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    stolen = session_cookie(client)
    assert post_form(client, "/logout", {}, token_from="/account").status_code == 302
    replay = web_app.test_client()
    replay.set_cookie("skills_session", stolen or "")
    assert replay.get("/account").status_code == 302


def test_sign_out_everywhere_ends_sessions_on_another_replica(
    web_app: Flask, store_settings: Settings, make_app: MakeApp, person: Actor
) -> None:
    replica = make_app(store_settings)
    here, there = signed_in(web_app, person), signed_in(replica, person)
    assert there.get("/account").status_code == 200
    post_form(here, "/account/sign-out-everywhere", {}, token_from="/account")
    assert there.get("/account").status_code == 302
    assert here.get("/account").status_code == 302


def test_a_session_made_on_one_replica_works_on_another(
    web_app: Flask, store_settings: Settings, make_app: MakeApp, person: Actor
) -> None:
    client = signed_in(web_app, person)
    other = make_app(store_settings).test_client()
    other.set_cookie("skills_session", session_cookie(client) or "")
    assert other.get("/account").status_code == 200


def test_a_role_change_ends_the_persons_sessions(
    web_app: Flask, person: Actor, admin: Actor
) -> None:
    client = signed_in(web_app, person)
    api = web_app.test_client()
    target = f"/api/v1/people/{person.person_id}"
    etag = api.get(target, headers=admin.headers).headers["ETag"]
    api.patch(target, json={"role": "manager"}, headers={**admin.headers, "If-Match": etag})
    assert client.get("/account").status_code == 302


def test_changing_the_password_ends_other_sessions_but_not_this_one(
    web_app: Flask, person: Actor
) -> None:
    here, elsewhere = signed_in(web_app, person), signed_in(web_app, person)
    response = post_form(
        here,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "an entirely new long passphrase",
        },
    )
    assert response.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302


def test_idle_sessions_expire(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    interface = web_app.session_interface
    assert isinstance(interface, sessions.ServerSessionInterface)
    real_clock = interface.clock
    timeouts = interface.timeouts
    interface.clock = lambda: real_clock() + timeouts.idle_seconds + timeouts.renewal_seconds + 1
    assert client.get("/account").status_code == 302


class SteppedClock:
    """The session interface's clock, moved forward by the test only."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("idle_minutes", [1, 30])
def test_a_person_active_within_the_idle_window_is_never_signed_out(
    store_settings: Settings, make_app: MakeApp, make_actor: MakeActor, idle_minutes: int
) -> None:
    app = make_app(changed(store_settings, session_idle_minutes=idle_minutes))
    client = signed_in(app, make_actor("member"))
    interface = app.session_interface
    assert isinstance(interface, sessions.ServerSessionInterface)
    clock = SteppedClock(interface.clock())
    interface.clock = clock
    idle, renewal = interface.timeouts.idle_seconds, interface.timeouts.renewal_seconds
    # A request soon after a renewal does not renew; the next one comes just inside
    # the idle window measured from that request.
    for gap in [renewal / 2, idle - 1] * 5:
        clock.now += gap
        assert client.get("/account").status_code == 200, f"signed out after a {gap} s gap"
    clock.now += idle + renewal + 1
    assert client.get("/account").status_code == 302


def test_sessions_expire_absolutely_even_when_active(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    interface = web_app.session_interface
    assert isinstance(interface, sessions.ServerSessionInterface)
    real_clock = interface.clock
    step = interface.timeouts.idle_seconds - 60
    for hop in range(1, interface.timeouts.absolute_seconds // step + 2):
        interface.clock = lambda hop=hop: real_clock() + hop * step
        client.get("/account")
    assert client.get("/account").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    response = client.post(
        "/account/tokens",
        data={"name": "x", "scopes": "read", "expires_days": "5"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_a_token(
    web_app: Flask, person: Actor, headers: dict[str, str]
) -> None:
    client = signed_in(web_app, person)
    token = csrf_token(client, "/account")
    response = client.post(
        "/account/tokens",
        data={
            "name": "x",
            "scopes": "read",
            "expires_days": "5",
            "csrf_token": token,
        },
        headers=headers,
    )
    assert response.status_code == 403


def test_cookie_authenticated_api_writes_need_the_csrf_token(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    skill_url = f"/api/v1/people/{person.person_id}/skills/1"
    refused = client.put(skill_url, json={"level": 3}, headers=SAME_ORIGIN)
    assert refused.status_code == 403
    token = csrf_token(client, "/account")
    allowed = client.put(
        skill_url, json={"level": 3}, headers={**SAME_ORIGIN, "X-CSRFToken": token}
    )
    assert allowed.status_code in (201, 404)


def test_bearer_token_api_writes_need_no_csrf_token(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        "/api/v1/skills",
        json={"name": "Go", "category": "Languages"},
        headers={**admin.headers, "Origin": "https://elsewhere.example"},
    )
    assert response.status_code == 201


def test_the_account_page_creates_a_token_shown_once(web_app: Flask, person: Actor) -> None:
    client = signed_in(web_app, person)
    post_form(
        client,
        "/account/tokens",
        {"name": "laptop", "scopes": ["read", "write"], "expires_days": "7"},
        token_from="/account",
    )
    first = client.get("/account").get_data(as_text=True)
    assert "sks_" in first
    secret = first.split('<code class="token">')[1].split("<")[0]
    assert (
        web_app.test_client()
        .get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        .status_code
        == 200
    )
    assert secret not in client.get("/account").get_data(as_text=True)


def test_login_is_throttled_per_account_with_retry_after(web_app: Flask, person: Actor) -> None:
    client = web_app.test_client()
    statuses = [
        sign_in(client, person.email, "wrong password number x").status_code for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    limited = sign_in(client, person.email, PASSWORD)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil", "javascript:alert(1)"]
)
def test_the_next_parameter_never_leaves_the_site(
    web_app: Flask, person: Actor, target: str
) -> None:
    client = web_app.test_client()
    client.get("/login", query_string={"next": target})
    response = sign_in(client, person.email, PASSWORD)
    assert response.headers["Location"] == "/"


def test_the_next_parameter_returns_to_a_local_page(web_app: Flask, person: Actor) -> None:
    client = web_app.test_client()
    first = client.get("/account")
    assert first.status_code == 302
    client.get(first.headers["Location"])
    assert sign_in(client, person.email, PASSWORD).headers["Location"] == "/account"
