"""OIDC access tokens (JWTs) as API credentials, end to end through the app."""

from __future__ import annotations

import pytest
from flask import Flask
from joserfc.jwk import RSAKey

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
