"""OIDC access tokens (JWTs) as API credentials, end to end through the app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from skills_service.errors import InvalidCredentials
from skills_service.extensions import db
from skills_service.models import Person
from skills_service.models.base import utcnow
from skills_service.services import people, tokens
from skills_service.settings import Settings
from tests.conftest import Actor, MakeActor, MakeApp, changed
from tests.integration.browser import signed_in
from tests.integration.test_oidc_login import role_changes
from tests.unit.test_jwt_bearer import (  # noqa: F401 - fixtures used by name
    AUDIENCE,
    FakeProvider,
    claims_for,
    ec_key,
    provider,
    rsa_key,
    sign,
)

BEARER_REJECTION = "The access token is invalid, expired or revoked."


@pytest.fixture
def jwt_app(settings: Settings, make_app: MakeApp, provider: FakeProvider) -> Flask:
    return make_app(
        changed(
            settings,
            oidc_issuer=provider.issuer,
            oidc_audience=AUDIENCE,
            oidc_role_map="skills-admins=admin",
        )
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


MakeBound = Callable[[str, str], Actor]
TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def make_bound(jwt_app: Flask, provider: FakeProvider, make_actor: MakeActor) -> MakeBound:
    """A person with ``role`` whose account is bound to ``subject``, as SSO leaves it."""

    def make(role: str, subject: str) -> Actor:
        actor = make_actor(role)
        with jwt_app.app_context():
            session = db.session
            with session.begin():
                person = people.get_person(session, actor.person_id)
                person.oidc_issuer, person.oidc_subject = provider.issuer, subject
        return actor

    return make


@pytest.fixture
def token_for(provider: FakeProvider, rsa_key: RSAKey) -> TokenFor:
    """Bearer headers with a valid access token for ``subject`` and these claims."""

    def headers(subject: str, **claims: object) -> dict[str, str]:
        return bearer(sign(rsa_key, claims_for(provider, sub=subject, **claims), "RS256"))

    return headers


def person_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Person)) or 0)


def test_an_access_token_identifies_the_person_bound_to_its_issuer_and_subject(
    jwt_app: Flask, make_bound: MakeBound, token_for: TokenFor
) -> None:
    """The token's email plays no part once the identity is bound."""
    local = make_bound("member", "ada")
    headers = token_for("ada", email="someone-else@example.org", email_verified=True)
    me = jwt_app.test_client().get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json["id"] == local.person_id
    assert me.json["email"] == local.email
    assert me.json["scopes"] == ["read"]


def test_an_access_token_for_an_unknown_identity_is_401_and_provisions_nobody(
    jwt_app: Flask, token_for: TokenFor
) -> None:
    before = person_count(jwt_app)
    headers = token_for("newcomer", email="jit@example.org", email_verified=True)
    response = jwt_app.test_client().get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert person_count(jwt_app) == before


@pytest.mark.parametrize("bound_to", [None, "the-admin"])
def test_an_access_token_never_links_itself_to_a_local_account_by_email(
    jwt_app: Flask,
    make_actor: MakeActor,
    make_bound: MakeBound,
    token_for: TokenFor,
    bound_to: str | None,
) -> None:
    """The reported attack: a JWT with a local admin's email read the audit trail."""
    local = make_bound("admin", bound_to) if bound_to else make_actor("admin")
    headers = token_for(
        "intruder", email=local.email, email_verified=True, groups=["skills-admins"]
    )
    response = jwt_app.test_client().get("/api/v1/audit", headers=headers)
    assert response.status_code == 401
    assert response.json["detail"] == BEARER_REJECTION
    with jwt_app.app_context():
        assert people.get_person(db.session, local.person_id).oidc_subject == bound_to


def test_writes_need_the_write_scope_in_the_token(
    jwt_app: Flask, make_bound: MakeBound, token_for: TokenFor
) -> None:
    make_bound("admin", "writer")
    client = jwt_app.test_client()
    read_only = token_for("writer", groups=["skills-admins"])
    body = {"name": "Go", "category": "Languages"}
    assert client.post("/api/v1/skills", json=body, headers=read_only).status_code == 403
    writer = token_for("writer", groups=["skills-admins"], scope="openid skills:write")
    assert client.post("/api/v1/skills", json=body, headers=writer).status_code == 201


NO_MAPPED_GROUP = {"no groups": [], "an unmapped group": ["staff"], "no claim": None}


@pytest.mark.parametrize("later", list(NO_MAPPED_GROUP))
def test_a_role_the_provider_stops_granting_is_taken_away_by_the_next_token(
    jwt_app: Flask, make_bound: MakeBound, token_for: TokenFor, later: str
) -> None:
    local = make_bound("member", "hedy")
    client = jwt_app.test_client()
    granting = token_for("hedy", groups=["skills-admins"])
    assert client.get("/api/v1/audit", headers=granting).status_code == 200
    withdrawn = token_for("hedy", groups=NO_MAPPED_GROUP[later])
    assert client.get("/api/v1/me", headers=withdrawn).json["role"] == "member"
    assert client.get("/api/v1/audit", headers=withdrawn).status_code == 403
    assert role_changes(jwt_app, local.person_id) == [("member", "admin"), ("admin", "member")]


def test_a_role_change_by_a_token_ends_the_persons_browser_sessions(
    jwt_app: Flask, make_bound: MakeBound, token_for: TokenFor
) -> None:
    browser = signed_in(jwt_app, make_bound("admin", "ida"))
    assert browser.get("/api/v1/audit").status_code == 200
    demoting = token_for("ida", groups=[])
    assert jwt_app.test_client().get("/api/v1/me", headers=demoting).json["role"] == "member"
    assert browser.get("/api/v1/audit").status_code == 401


def test_an_unverified_email_does_not_take_over_a_local_account(
    jwt_app: Flask, provider: FakeProvider, rsa_key: RSAKey, make_actor: MakeActor
) -> None:
    local = make_actor("admin")
    token = sign(rsa_key, claims_for(provider, email=local.email, email_verified=False), "RS256")
    response = jwt_app.test_client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "change", [{"aud": "another-api"}, {"iss": "http://evil.example"}, {"exp": 1}]
)
def test_a_bad_token_is_401_problem_with_a_challenge(
    jwt_app: Flask, provider: FakeProvider, rsa_key: RSAKey, change: dict[str, object]
) -> None:
    token = sign(rsa_key, claims_for(provider, email_verified=True, **change), "RS256")
    response = jwt_app.test_client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert token not in response.get_data(as_text=True)


def test_jwts_are_refused_when_no_audience_is_configured(
    settings: Settings, make_app: MakeApp, provider: FakeProvider, rsa_key: RSAKey
) -> None:
    app = make_app(changed(settings, oidc_issuer=provider.issuer))
    token = sign(rsa_key, claims_for(provider, email_verified=True), "RS256")
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401


def _refusal(app: Flask, authorization: str) -> tuple[dict[str, object], str]:
    response = app.test_client().get("/api/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401, authorization
    assert response.mimetype == "application/problem+json"
    body = dict(response.json or {})
    assert body.pop("request_id")
    return body, response.headers["WWW-Authenticate"]


def _personal_tokens_that_fail(app: Flask, make_actor: MakeActor) -> list[str]:
    """An expired, a revoked and a deactivated owner's token, each once valid."""
    expired, revoked, deactivated = (make_actor("member") for _ in range(3))
    with app.app_context():
        session = db.session
        with session.begin():
            person = people.get_person(session, expired.person_id)
            old = tokens.create_token(
                session,
                person=person,
                name="old",
                scopes=["read"],
                expires_days=1,
                max_days=365,
                now=utcnow() - timedelta(days=2),
            )
            (token_id,) = [t.id for t in tokens.tokens_of(session, revoked.person_id)]
            tokens.revoke_token(session, token_id=token_id)
            people.get_person(session, deactivated.person_id).active = False
    return [old.secret, revoked.token, deactivated.token]


def test_every_bearer_failure_is_the_same_problem_and_challenge(
    jwt_app: Flask, provider: FakeProvider, rsa_key: RSAKey, make_actor: MakeActor
) -> None:
    outsider = RSAKey.generate_key(2048)
    local = make_actor("admin")
    jwts = [
        sign(rsa_key, claims_for(provider, email_verified=True, exp=1), "RS256"),
        sign(rsa_key, claims_for(provider, email_verified=True, aud="another-api"), "RS256"),
        sign(outsider, claims_for(provider, email_verified=True), "RS256", kid=rsa_key.kid),
        sign(rsa_key, claims_for(provider, email=local.email, email_verified=False), "RS256"),
        "not.a.jwt",
    ]
    personal = [f"sks_{'x' * 43}", "sks_short", *_personal_tokens_that_fail(jwt_app, make_actor)]
    authorizations = [
        *(f"Bearer {secret}" for secret in (*personal, *jwts)),
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        # Longer than any token, within the app's header limit (beyond it: 431).
        "Bearer " + "a" * 8100,
    ]
    refusals = [_refusal(jwt_app, authorization) for authorization in authorizations]
    assert all(refusal == refusals[0] for refusal in refusals), refusals
    body, challenge = refusals[0]
    assert body["detail"] == InvalidCredentials.DETAIL
    assert challenge == 'Bearer realm="skills-service", error="invalid_token"'
