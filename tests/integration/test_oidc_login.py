"""Single sign-on against a real OpenID provider process on loopback, over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from skills_service.settings import Settings
from tests.conftest import MakeActor, MakeApp, changed

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


def test_an_existing_account_is_linked_only_by_a_verified_email(
    sso_app: Flask, provider: str, make_actor: MakeActor
) -> None:
    local = make_actor("member")
    register_user(provider, "mallory", email=local.email, email_verified=False)
    client = sso_app.test_client()
    refused = sso_round_trip(client, "mallory")
    assert refused.status_code in (302, 401)
    assert client.get("/account").status_code == 302
    register_user(provider, "owner", email=local.email, email_verified=True)
    client = sso_app.test_client()
    sso_round_trip(client, "owner")
    assert local.email in client.get("/account").get_data(as_text=True)


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
