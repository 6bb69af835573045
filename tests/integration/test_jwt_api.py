"""OIDC access tokens (JWTs) as API credentials, end to end through the app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from joserfc.jwk import RSAKey

from skills_service.errors import InvalidCredentials
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.services import people, tokens
from skills_service.settings import Settings
from tests.conftest import MakeActor, MakeApp, changed
from tests.unit.test_jwt_bearer import (  # noqa: F401 - fixtures used by name
    AUDIENCE,
    FakeProvider,
    claims_for,
    ec_key,
    provider,
    rsa_key,
    sign,
)


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


def test_a_verified_access_token_provisions_and_identifies_a_person(
    jwt_app: Flask, provider: FakeProvider, rsa_key: RSAKey
) -> None:
    token = sign(
        rsa_key,
        claims_for(provider, email="jit@example.org", email_verified=True, name="Just In Time"),
        "RS256",
    )
    me = jwt_app.test_client().get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["email"] == "jit@example.org"
    assert me.json["role"] == "member"
    assert me.json["scopes"] == ["read"]


def test_writes_need_the_write_scope_in_the_token(
    jwt_app: Flask, provider: FakeProvider, rsa_key: RSAKey
) -> None:
    claims = claims_for(
        provider, email="admin@example.org", email_verified=True, groups=["skills-admins"]
    )
    client = jwt_app.test_client()
    read_only = sign(rsa_key, claims, "RS256")
    body = {"name": "Go", "category": "Languages"}
    assert client.post("/api/v1/skills", json=body, headers=bearer(read_only)).status_code == 403
    writer = sign(rsa_key, {**claims, "scope": "openid skills:write"}, "RS256")
    assert client.post("/api/v1/skills", json=body, headers=bearer(writer)).status_code == 201


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
        "Bearer " + "a" * 9000,
    ]
    refusals = [_refusal(jwt_app, authorization) for authorization in authorizations]
    assert all(refusal == refusals[0] for refusal in refusals), refusals
    body, challenge = refusals[0]
    assert body["detail"] == InvalidCredentials.DETAIL
    assert challenge == 'Bearer realm="skills-service", error="invalid_token"'
