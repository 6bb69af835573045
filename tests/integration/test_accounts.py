"""Local accounts: two-factor sign-in, recovery codes, admin resets, stale hashes."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher, Type
from flask import Flask
from flask.testing import FlaskClient

from skills_service.extensions import db
from skills_service.models import Person
from skills_service.services import passwords, people
from skills_service.settings import Settings
from tests.conftest import PASSWORD, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import CSRF_FIELD, SAME_ORIGIN, post_form, set_password, sign_in

TOTP_KEY = re.compile(r"enter this key by hand: <code>([A-Z2-7]+)</code>")
RECOVERY_CODE = re.compile(r"<li><code>([a-z2-7]{8}-[a-z2-7]{8})</code></li>")
WEAK_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)


@pytest.fixture
def person(app: Flask, make_actor: MakeActor) -> Actor:
    actor = make_actor("member")
    set_password(app, actor.person_id, PASSWORD)
    return actor


def stored(app: Flask, person_id: int) -> Person:
    with app.app_context():
        return people.get_person(db.session, person_id)


def enrol(client: FlaskClient) -> tuple[pyotp.TOTP, list[str]]:
    """Turn MFA on as a browser would (one page, one post); the app and the recovery codes."""
    page = client.get("/account/mfa").get_data(as_text=True)
    assert "<svg" in page
    match = TOTP_KEY.search(page)
    assert match
    totp = pyotp.TOTP(match.group(1))
    token = CSRF_FIELD.search(page)
    assert token
    response = client.post(
        "/account/mfa",
        data={"code": totp.now(), "csrf_token": token.group(1)},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    return totp, codes


def next_step_code(totp: pyotp.TOTP) -> str:
    """A code for the following 30-second step: fresh, yet inside the drift window."""
    return totp.at(time.time() + totp.interval)


def second_factor(client: FlaskClient, code: str) -> Any:
    return post_form(client, "/login/mfa", {"code": code})


def test_enrolment_shows_a_qr_code_and_ten_one_time_recovery_codes(
    app: Flask, person: Actor
) -> None:
    client = app.test_client()
    sign_in(client, person.email, PASSWORD)
    totp, codes = enrol(client)
    assert len(codes) == len(set(codes)) == 10
    enrolled = stored(app, person.person_id)
    assert enrolled.mfa_enabled_at is not None
    assert enrolled.totp_secret_encrypted is not None
    assert totp.secret not in enrolled.totp_secret_encrypted


def test_a_wrong_enrolment_code_turns_nothing_on(app: Flask, person: Actor) -> None:
    client = app.test_client()
    sign_in(client, person.email, PASSWORD)
    client.get("/account/mfa")
    response = post_form(client, "/account/mfa", {"code": "000000"})
    assert response.status_code == 422
    assert stored(app, person.person_id).mfa_enabled_at is None


def test_with_mfa_on_a_password_alone_does_not_sign_in(app: Flask, person: Actor) -> None:
    enrol_client = app.test_client()
    sign_in(enrol_client, person.email, PASSWORD)
    totp, _ = enrol(enrol_client)
    client = app.test_client()
    response = sign_in(client, person.email, PASSWORD)
    assert response.headers["Location"] == "/login/mfa"
    assert client.get("/account").status_code == 302
    assert client.get("/api/v1/me", headers=SAME_ORIGIN).status_code == 401
    assert second_factor(client, next_step_code(totp)).status_code == 302
    assert client.get("/account").status_code == 200


def test_a_used_totp_code_cannot_be_replayed(app: Flask, person: Actor) -> None:
    enrol_client = app.test_client()
    sign_in(enrol_client, person.email, PASSWORD)
    totp, _ = enrol(enrol_client)
    code = next_step_code(totp)
    first = app.test_client()
    sign_in(first, person.email, PASSWORD)
    assert second_factor(first, code).status_code == 302
    replay = app.test_client()
    sign_in(replay, person.email, PASSWORD)
    assert second_factor(replay, code).status_code == 401
    assert replay.get("/account").status_code == 302


def test_a_recovery_code_works_exactly_once(app: Flask, person: Actor) -> None:
    enrol_client = app.test_client()
    sign_in(enrol_client, person.email, PASSWORD)
    _, codes = enrol(enrol_client)
    first = app.test_client()
    sign_in(first, person.email, PASSWORD)
    assert second_factor(first, codes[0].upper()).status_code == 302
    again = app.test_client()
    sign_in(again, person.email, PASSWORD)
    assert second_factor(again, codes[0]).status_code == 401
    assert second_factor(again, codes[1]).status_code == 302


def test_admins_must_enrol_before_anything_else_when_configured(
    settings: Settings, make_app: MakeApp, make_actor: MakeActor
) -> None:
    app = make_app(changed(settings, require_admin_mfa=True))
    admin = make_actor("admin")
    set_password(app, admin.person_id, PASSWORD)
    client = app.test_client()
    assert sign_in(client, admin.email, PASSWORD).headers["Location"] == "/account/mfa"
    assert client.get("/account").headers["Location"] == "/account/mfa"
    blocked = client.get("/api/v1/skills", headers=SAME_ORIGIN)
    assert blocked.status_code == 403
    assert "enrol mfa" in blocked.json["detail"]
    enrol(client)
    assert client.get("/account").status_code == 200
    assert client.get("/api/v1/skills", headers=SAME_ORIGIN).status_code == 200


def test_an_admin_reset_ends_sessions_and_forces_a_new_password(
    app: Flask, admin: Actor, person: Actor
) -> None:
    browser = app.test_client()
    sign_in(browser, person.email, PASSWORD)
    response = app.test_client().post(
        f"/api/v1/people/{person.person_id}/password-reset", headers=admin.headers
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    one_time = response.json["one_time_password"]
    assert browser.get("/account").status_code == 302
    assert sign_in(app.test_client(), person.email, PASSWORD).status_code == 401
    fresh = app.test_client()
    assert sign_in(fresh, person.email, one_time).headers["Location"] == "/account/password"
    assert fresh.get("/account").headers["Location"] == "/account/password"
    changed_password = post_form(
        fresh,
        "/account/password",
        {"current_password": one_time, "new_password": "a brand new long passphrase"},
    )
    assert changed_password.headers["Location"] == "/account"
    assert fresh.get("/account").status_code == 200


def test_only_admins_reset_passwords(app: Flask, make_actor: MakeActor, person: Actor) -> None:
    manager = make_actor("manager")
    response = app.test_client().post(
        f"/api/v1/people/{person.person_id}/password-reset", headers=manager.headers
    )
    assert response.status_code == 403
    assert sign_in(app.test_client(), person.email, PASSWORD).status_code == 302


def test_resetting_an_unknown_person_is_404(app: Flask, admin: Actor) -> None:
    response = app.test_client().post("/api/v1/people/999999/password-reset", headers=admin.headers)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_a_stale_hash_is_upgraded_at_sign_in(app: Flask, person: Actor) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            people.get_person(session, person.person_id).password_hash = WEAK_HASHER.hash(PASSWORD)
    assert sign_in(app.test_client(), person.email, PASSWORD).status_code == 302
    upgraded = stored(app, person.person_id).password_hash
    assert upgraded is not None
    assert not passwords.HASHER.check_needs_rehash(upgraded)
    assert passwords.verify_password(upgraded, PASSWORD)


def test_the_email_is_matched_after_unicode_normalisation(app: Flask, person: Actor) -> None:
    fullwidth = "".join(
        chr(ord(char) + 0xFEE0) if char.isalnum() else char for char in person.email
    )
    assert sign_in(app.test_client(), fullwidth.upper(), PASSWORD).status_code == 302
    invisible = person.email.replace("@", "\u200b@")
    assert sign_in(app.test_client(), invisible, PASSWORD).status_code == 401


def test_login_is_throttled_per_address_across_accounts(
    settings: Settings, make_app: MakeApp
) -> None:
    app = make_app(changed(settings, login_rate_limit="3/minute"))
    client = app.test_client()
    answers = [
        sign_in(client, f"guess{number}@example.org", "not the password at all").status_code
        for number in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_in(elsewhere, "guess9@example.org", "not the password at all").status_code == 401


@pytest.mark.parametrize(
    "email, password",
    [("x" * 5000 + "@example.org", PASSWORD), ("someone@example.org", "p" * 100_000)],
    ids=["oversized email", "oversized password"],
)
def test_oversized_credentials_are_a_clean_refusal(app: Flask, email: str, password: str) -> None:
    response = sign_in(app.test_client(), email, password)
    assert response.status_code in (413, 422)
    assert "Traceback" not in response.get_data(as_text=True)


def test_an_oversized_bearer_token_is_a_clean_401(client: FlaskClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer " + "a" * 20_000})
    assert response.status_code in (401, 431)
    assert response.mimetype == "application/problem+json"


def test_after_a_secret_key_rotation_recovery_codes_still_sign_in(
    app: Flask, settings: Settings, make_app: MakeApp, person: Actor
) -> None:
    """The TOTP secret is encrypted under the app key; the recovery codes are not."""
    enrolling = app.test_client()
    sign_in(enrolling, person.email, PASSWORD)
    totp, codes = enrol(enrolling)
    rotated = make_app(changed(settings, secret_key="JnRFY13SJHBY__5NU9rD8l3FAFo9LzmulSYE_TsuZjo"))
    client = rotated.test_client()
    sign_in(client, person.email, PASSWORD)
    assert second_factor(client, next_step_code(totp)).status_code == 401
    assert second_factor(client, codes[0]).status_code == 302
