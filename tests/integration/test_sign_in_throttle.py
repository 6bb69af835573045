"""Sign-in throttling that bounds guessing without letting anyone lock a person out."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service.extensions import db
from skills_service.services import mfa, people
from skills_service.settings import Settings
from tests.conftest import PASSWORD, REDIS_URL, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import CSRF_FIELD, post_form, sign_in, with_password

WRONG = "not the password at all"
STORAGES = ["memory", *(["redis"] if REDIS_URL else [])]
ATTACKERS = [f"203.0.113.{number}" for number in range(1, 12)]
"""Eleven addresses, A to K."""
OWN_ADDRESS = "198.51.100.7"
NEW_ADDRESS = "198.51.100.99"


@pytest.fixture(params=STORAGES)
def throttled_app(request: pytest.FixtureRequest, settings: Settings, make_app: MakeApp) -> Flask:
    """Per (account, address) three passwords a minute; per account five wrong passwords
    an hour and eight wrong codes a day."""
    return make_app(
        changed(
            settings,
            ratelimit_storage_url=REDIS_URL if request.param == "redis" else None,
            login_rate_limit="3/minute",
            login_account_rate_limit="5/hour",
            mfa_account_rate_limit="8/day",
        )
    )


def browser(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def with_totp(app: Flask, actor: Actor) -> pyotp.TOTP:
    """Second factor on, as enrolment leaves it; the next step's code is fresh."""
    totp = pyotp.TOTP(pyotp.random_base32())
    with app.app_context():
        session = db.session
        with session.begin():
            codes = mfa.confirm_enrolment(
                session,
                person=people.get_person(session, actor.person_id),
                secret=totp.secret,
                code=totp.now(),
                secret_key=app.config["SECRET_KEY"],
            )
    assert codes
    return totp


def next_step_code(totp: pyotp.TOTP) -> str:
    return totp.at(time.time() + totp.interval)


def attack(app: Flask, email: str, addresses: list[str], tries: int) -> list[int]:
    statuses = []
    for address in addresses:
        client = browser(app, address)
        statuses += [sign_in(client, email, WRONG).status_code for _ in range(tries)]
    return statuses


def page_without_token(response: Any) -> str:
    return CSRF_FIELD.sub("", response.get_data(as_text=True))


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


@pytest.mark.parametrize("role", ["member", "admin"])
def test_failures_from_many_addresses_do_not_lock_the_person_out_of_their_own(
    throttled_app: Flask, make_actor: MakeActor, role: str
) -> None:
    person = with_password(throttled_app, make_actor, role)
    assert sign_in(browser(throttled_app, OWN_ADDRESS), person.email, PASSWORD).status_code == 302
    statuses = attack(throttled_app, person.email, ATTACKERS, tries=4)
    assert statuses.count(401) == 5, "the account's budget bounds the guesses"
    assert 302 not in statuses
    own = browser(throttled_app, OWN_ADDRESS)
    assert sign_in(own, person.email, PASSWORD).headers["Location"] == "/"
    assert signed_in(own)


@pytest.mark.parametrize("role", ["member", "admin"])
def test_with_a_second_factor_the_person_signs_in_from_any_address_under_attack(
    throttled_app: Flask, make_actor: MakeActor, role: str
) -> None:
    person = with_password(throttled_app, make_actor, role)
    totp = with_totp(throttled_app, person)
    attack(throttled_app, person.email, ATTACKERS, tries=4)
    client = browser(throttled_app, NEW_ADDRESS)
    alone = sign_in(client, person.email, PASSWORD)
    assert alone.status_code == 429
    assert int(alone.headers["Retry-After"]) > 0
    assert 'name="code"' in alone.get_data(as_text=True)
    credentials = {"email": person.email, "password": PASSWORD, "code": next_step_code(totp)}
    both = post_form(client, "/login", credentials)
    assert both.headers["Location"] == "/"
    assert signed_in(client)


def test_guessing_spread_over_many_addresses_is_still_throttled(
    throttled_app: Flask, make_actor: MakeActor
) -> None:
    person = with_password(throttled_app, make_actor)
    addresses = [f"192.0.2.{number}" for number in range(1, 21)]
    statuses = attack(throttled_app, person.email, addresses, tries=1)
    assert statuses == [401] * 5 + [429] * 15


def test_once_guarded_a_password_alone_gets_the_same_answer_right_or_wrong(
    throttled_app: Flask, make_actor: MakeActor
) -> None:
    person = with_password(throttled_app, make_actor)
    attack(throttled_app, person.email, ATTACKERS[:2], tries=3)
    wrong = sign_in(browser(throttled_app, NEW_ADDRESS), person.email, WRONG)
    right_client = browser(throttled_app, "198.51.100.100")
    right = sign_in(right_client, person.email, PASSWORD)
    assert wrong.status_code == right.status_code == 429
    assert page_without_token(wrong) == page_without_token(right)
    assert not signed_in(right_client)


def test_one_address_cannot_guess_quickly_at_one_account(
    throttled_app: Flask, make_actor: MakeActor
) -> None:
    person = with_password(throttled_app, make_actor)
    assert attack(throttled_app, person.email, ATTACKERS[:1], tries=4) == [401, 401, 401, 429]


def test_five_wrong_codes_from_three_addresses_end_the_pending_sign_in(
    throttled_app: Flask, make_actor: MakeActor
) -> None:
    person = with_password(throttled_app, make_actor)
    totp = with_totp(throttled_app, person)
    client = browser(throttled_app, OWN_ADDRESS)
    assert sign_in(client, person.email, PASSWORD).headers["Location"] == "/login/mfa"
    answers = []
    for attempt in range(5):
        client.environ_base["REMOTE_ADDR"] = ATTACKERS[attempt % 3]
        answers.append(post_form(client, "/login/mfa", {"code": f"00000{attempt}"}))
    assert [answer.status_code for answer in answers] == [401] * 5
    assert 'action="/login"' in answers[-1].get_data(as_text=True)
    client.environ_base["REMOTE_ADDR"] = OWN_ADDRESS
    after = post_form(client, "/login/mfa", {"code": next_step_code(totp)}, token_from="/login")
    assert after.headers["Location"] == "/login"
    assert not signed_in(client)


def test_wrong_codes_are_bounded_per_account_across_pending_sign_ins(
    throttled_app: Flask, make_actor: MakeActor
) -> None:
    person = with_password(throttled_app, make_actor)
    totp = with_totp(throttled_app, person)
    for address in ATTACKERS[:4]:
        client = browser(throttled_app, address)
        sign_in(client, person.email, PASSWORD)
        for attempt in range(2):
            assert post_form(client, "/login/mfa", {"code": f"11111{attempt}"}).status_code == 401
    client = browser(throttled_app, NEW_ADDRESS)
    sign_in(client, person.email, PASSWORD)
    refused = post_form(client, "/login/mfa", {"code": next_step_code(totp)})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert not signed_in(client)


def test_with_redis_unreachable_the_budgets_hold_in_process(
    settings: Settings, make_app: MakeApp, make_actor: MakeActor
) -> None:
    app = make_app(
        changed(
            settings,
            ratelimit_storage_url="redis://127.0.0.1:1/0?socket_connect_timeout=0.2",
            login_rate_limit="3/minute",
            login_account_rate_limit="5/hour",
        )
    )
    person = with_password(app, make_actor)
    assert sign_in(browser(app, OWN_ADDRESS), person.email, PASSWORD).status_code == 302
    assert attack(app, person.email, ATTACKERS[:3], tries=2) == [401] * 5 + [429]
    assert sign_in(browser(app, OWN_ADDRESS), person.email, PASSWORD).status_code == 302
