"""Single sign-on against a real OpenID provider process on loopback, over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from skills_service.extensions import db
from skills_service.models import AuditEvent
from skills_service.services import people
from skills_service.settings import Settings
from tests.conftest import Actor, MakeActor, MakeApp, changed
from tests.integration.browser import signed_in
from tests.integration.test_accounts import enrol, next_step_code, second_factor

START_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """``oidc-provider-mock`` in its own process; stopped after the module."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            try:
                requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the OpenID provider did not start")
                time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso_app(settings: Settings, make_app: MakeApp, provider: str) -> Flask:
    return make_app(
        changed(
            settings,
            oidc_issuer=provider,
            oidc_client_id="skills-service",
            oidc_client_secret="client-secret-for-tests",
            oidc_role_map="skills-admins=admin",
        )
    )


def register_user(provider: str, subject: str, **claims: Any) -> None:
    response = requests.put(f"{provider}/users/{subject}", json=claims, timeout=5)
    assert response.status_code == 204


def sso_round_trip(client: FlaskClient, subject: str) -> Any:
    """Start at /login/sso, approve at the provider as ``subject``, return to us."""
    start = client.get("/login/sso")
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and query["code_challenge"]
    approved = requests.post(authorize_url, data={"sub": subject}, allow_redirects=False, timeout=5)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def signed_in_person_id(client: FlaskClient) -> int | None:
    me = client.get("/api/v1/me")
    return int(me.json["id"]) if me.status_code == 200 else None


def binding_of(app: Flask, person_id: int) -> tuple[str | None, str | None]:
    """The (issuer, subject) the person's account is bound to."""
    with app.app_context():
        person = people.get_person(db.session, person_id)
        return person.oidc_issuer, person.oidc_subject


def role_changes(app: Flask, person_id: int) -> list[tuple[str, str]]:
    """(before, after) of each role the identity provider set, oldest first."""
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "person.role_mapped")
            .where(AuditEvent.target_id == str(person_id))
            .order_by(AuditEvent.seq)
        )
        return [(event.before["role"], event.after["role"]) for event in events]


def enrol_second_factor(app: Flask, actor: Actor) -> pyotp.TOTP:
    """The local account turns TOTP on in its own browser session."""
    totp, _ = enrol(signed_in(app, actor))
    return totp


def test_first_sso_login_provisions_a_person_just_in_time(sso_app: Flask, provider: str) -> None:
    register_user(
        provider, "ada", email="ada@example.org", email_verified=True, name="Ada Lovelace"
    )
    client = sso_app.test_client()
    finished = sso_round_trip(client, "ada")
    assert finished.status_code == 302
    assert finished.headers["Location"] == "/"
    page = client.get("/account").get_data(as_text=True)
    assert "Ada Lovelace" in page and "member" in page


def test_roles_are_mapped_from_the_configured_claim(sso_app: Flask, provider: str) -> None:
    register_user(
        provider,
        "grace",
        email="grace@example.org",
        email_verified=True,
        name="Grace",
        groups=["engineering", "skills-admins"],
    )
    client = sso_app.test_client()
    sso_round_trip(client, "grace")
    assert "admin" in client.get("/account").get_data(as_text=True)


NO_MAPPED_GROUP = {"no groups": [], "an unmapped group": ["staff"], "no claim": None}


@pytest.mark.parametrize("later", list(NO_MAPPED_GROUP))
def test_a_role_the_provider_stops_granting_is_taken_away_at_sign_in(
    sso_app: Flask, provider: str, later: str
) -> None:
    register_user(provider, "hedy", email="hedy@example.org", email_verified=True, groups=["staff"])
    sso_round_trip(sso_app.test_client(), "hedy")
    register_user(
        provider, "hedy", email="hedy@example.org", email_verified=True, groups=["skills-admins"]
    )
    promoted = sso_app.test_client()
    sso_round_trip(promoted, "hedy")
    assert promoted.get("/api/v1/me").json["role"] == "admin"
    groups = NO_MAPPED_GROUP[later]
    claims = {"groups": groups} if groups is not None else {}
    register_user(provider, "hedy", email="hedy@example.org", email_verified=True, **claims)
    demoted = sso_app.test_client()
    sso_round_trip(demoted, "hedy")
    me = demoted.get("/api/v1/me").json
    assert me["role"] == "member"
    assert demoted.get("/api/v1/audit").status_code == 403
    assert role_changes(sso_app, me["id"]) == [("member", "admin"), ("admin", "member")]


def test_a_role_change_at_sign_in_ends_the_persons_other_sessions(
    sso_app: Flask, provider: str
) -> None:
    register_user(
        provider, "ida", email="ida@example.org", email_verified=True, groups=["skills-admins"]
    )
    earlier = sso_app.test_client()
    sso_round_trip(earlier, "ida")
    assert earlier.get("/api/v1/audit").status_code == 200
    register_user(provider, "ida", email="ida@example.org", email_verified=True, groups=[])
    later = sso_app.test_client()
    sso_round_trip(later, "ida")
    assert earlier.get("/api/v1/audit").status_code == 401
    assert later.get("/api/v1/me").status_code == 200


def test_an_existing_account_is_linked_only_by_a_verified_email(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    local = make_actor("member")
    register_user(provider, "mallory", email=local.email, email_verified=False)
    client = sso_app.test_client()
    refused = sso_round_trip(client, "mallory")
    assert refused.status_code in (302, 401)
    assert client.get("/account").status_code == 302
    assert binding_of(sso_app, local.person_id) == (None, None)
    register_user(provider, "owner", email=local.email, email_verified=True)
    client = sso_app.test_client()
    sso_round_trip(client, "owner")
    assert local.email in client.get("/account").get_data(as_text=True)
    assert binding_of(sso_app, local.person_id) == (provider, "owner")


def look_alikes(email: str) -> dict[str, str]:
    """Spellings that fold to ``email`` (or look like it) without being it."""
    local, domain = email.split("@")
    return {
        "full-width": "".join(chr(ord(char) + 0xFEE0) for char in local) + "@" + domain,
        "upper-case local part": local.capitalize() + "@" + domain,
        "Cyrillic a in the domain": local + "@" + domain.replace("a", "\u0430", 1),
        "composing combining mark": local[0] + "\u0301" + local[1:] + "@" + domain,
        "non-composing combining mark": local + "\u0338@" + domain,
        "trailing dot": email + ".",
        "surrounding space": f" {email} ",
        "zero-width space": local + "\u200b@" + domain,
    }


LOOK_ALIKE_KINDS = list(look_alikes("member1@example.org"))


@pytest.mark.parametrize("kind", LOOK_ALIKE_KINDS)
def test_a_look_alike_address_never_reaches_a_local_account(
    sso_app: Flask, provider: str, make_actor: MakeActor, kind: str
) -> None:
    """Nothing is folded: the account has no second factor, so a link would sign in."""
    local = make_actor("admin")
    register_user(provider, "look-alike", email=look_alikes(local.email)[kind], email_verified=True)
    client = sso_app.test_client()
    sso_round_trip(client, "look-alike")
    assert signed_in_person_id(client) != local.person_id
    assert binding_of(sso_app, local.person_id) == (None, None)
    assert client.get("/api/v1/audit").status_code in (401, 403)


def test_a_full_width_address_never_skips_a_local_second_factor(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    """The reported attack: a full-width spelling of mgr@… signed in as mgr@…, who has
    TOTP, without a code."""
    local = make_actor("manager")
    enrol_second_factor(sso_app, local)
    register_user(
        provider, "full-width", email=look_alikes(local.email)["full-width"], email_verified=True
    )
    client = sso_app.test_client()
    sso_round_trip(client, "full-width")
    assert signed_in_person_id(client) is None
    assert client.get("/login/mfa").status_code == 302
    assert binding_of(sso_app, local.person_id) == (None, None)


@pytest.mark.parametrize("domain_case", ["as stored", "upper-case domain"])
def test_an_exact_verified_address_links_only_once_the_local_second_factor_passes(
    sso_app: Flask, provider: str, make_actor: MakeActor, domain_case: str
) -> None:
    local = make_actor("member")
    totp = enrol_second_factor(sso_app, local)
    user, domain = local.email.split("@")
    email = local.email if domain_case == "as stored" else f"{user}@{domain.upper()}"
    register_user(provider, "owner", email=email, email_verified=True)
    client = sso_app.test_client()
    asked = sso_round_trip(client, "owner")
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/login/mfa"
    assert signed_in_person_id(client) is None
    assert binding_of(sso_app, local.person_id) == (None, None)
    assert second_factor(client, next_step_code(totp)).status_code == 302
    assert signed_in_person_id(client) == local.person_id
    assert binding_of(sso_app, local.person_id) == (provider, "owner")


def test_an_abandoned_second_factor_links_nothing(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    local = make_actor("member")
    enrol_second_factor(sso_app, local)
    register_user(provider, "owner", email=local.email, email_verified=True)
    client = sso_app.test_client()
    sso_round_trip(client, "owner")
    assert second_factor(client, "000000").status_code == 401
    assert signed_in_person_id(client) is None
    assert binding_of(sso_app, local.person_id) == (None, None)


def test_a_bound_identity_still_asks_for_the_local_second_factor(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    local = make_actor("member")
    totp = enrol_second_factor(sso_app, local)
    register_user(provider, "owner", email=local.email, email_verified=True)
    first = sso_app.test_client()
    sso_round_trip(first, "owner")
    assert second_factor(first, next_step_code(totp)).status_code == 302
    again = sso_app.test_client()
    assert sso_round_trip(again, "owner").headers["Location"] == "/login/mfa"
    assert signed_in_person_id(again) is None


def test_the_bound_subject_wins_when_the_provider_changes_the_email(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    bound, other = make_actor("member"), make_actor("admin")
    register_user(provider, "mover", email=bound.email, email_verified=True)
    sso_round_trip(sso_app.test_client(), "mover")
    register_user(provider, "mover", email=other.email, email_verified=True)
    client = sso_app.test_client()
    sso_round_trip(client, "mover")
    assert signed_in_person_id(client) == bound.person_id
    assert binding_of(sso_app, other.person_id) == (None, None)


def test_another_subject_with_the_same_email_never_takes_over_a_bound_account(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    local = make_actor("admin")
    register_user(provider, "owner", email=local.email, email_verified=True)
    sso_round_trip(sso_app.test_client(), "owner")
    register_user(provider, "intruder", email=local.email, email_verified=True)
    client = sso_app.test_client()
    refused = sso_round_trip(client, "intruder")
    assert refused.status_code in (302, 401)
    assert signed_in_person_id(client) is None
    assert binding_of(sso_app, local.person_id) == (provider, "owner")


def test_a_forged_state_is_refused(sso_app: Flask, provider: str) -> None:
    register_user(provider, "eve", email="eve@example.org", email_verified=True)
    client = sso_app.test_client()
    start = client.get("/login/sso")
    approved = requests.post(
        start.headers["Location"], data={"sub": "eve"}, allow_redirects=False, timeout=5
    )
    back = urlsplit(approved.headers["Location"])
    query = parse_qs(back.query)
    forged = client.get(back.path, query_string={"code": query["code"][0], "state": "forged-state"})
    assert forged.status_code in (302, 401)
    assert client.get("/account").status_code == 302


def test_a_refused_sign_on_is_the_sign_in_page_saying_why_without_the_code_in_a_redirect(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    """It was a redirect to /login?next=/login/sso/callback?code=...&state=..., the
    reason lost."""
    local = make_actor("member")
    register_user(provider, "unverified", email=local.email, email_verified=False)
    client = sso_app.test_client()
    refused = sso_round_trip(client, "unverified")
    assert refused.status_code == 401, refused.headers.get("Location")
    assert "Location" not in refused.headers
    page = refused.get_data(as_text=True)
    assert 'id="password"' in page and "code=" not in page
    assert 'role="alert"' in page


def test_a_callback_from_another_browser_is_refused(sso_app: Flask, provider: str) -> None:
    """The state lives in the starting browser's session; a stolen callback URL fails."""
    register_user(provider, "frank", email="frank@example.org", email_verified=True)
    victim = sso_app.test_client()
    start = victim.get("/login/sso")
    approved = requests.post(
        start.headers["Location"], data={"sub": "frank"}, allow_redirects=False, timeout=5
    )
    back = urlsplit(approved.headers["Location"])
    attacker = sso_app.test_client()
    attacker.get(f"{back.path}?{back.query}")
    assert attacker.get("/account").status_code == 302


def test_the_login_page_offers_sso_when_configured(sso_app: Flask) -> None:
    assert "Sign in with SSO" in sso_app.test_client().get("/login").get_data(as_text=True)


def test_sso_is_absent_when_not_configured(client: FlaskClient) -> None:
    assert "Sign in with SSO" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/sso").status_code == 404
