"""Security headers on every kind of response, and a CSP that forbids inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import skills_service
from skills_service.dashboard import COMPONENT_SUITES_ENDPOINT
from skills_service.security import headers
from skills_service.settings import Settings
from tests.conftest import Actor, MakeActor, MakeApp, changed
from tests.integration.browser import SAME_ORIGIN, signed_in
from tests.integration.test_route_policy import _path as sample_path
from tests.integration.test_route_policy import _routes as routes_of
from tests.integration.world import build_world

TEMPLATES = Path(skills_service.__file__).parent
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*nonce=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


def directives(response: TestResponse) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def sample_responses(client: FlaskClient, admin: Actor) -> dict[str, TestResponse]:
    return {
        "html page": client.get("/login"),
        "api json": client.get("/api/v1/skills", headers=admin.headers),
        "problem": client.get("/api/v1/skills/999999", headers=admin.headers),
        "unauthenticated": client.get("/api/v1/skills"),
        "not found page": client.get("/no/such/page"),
        "static asset": client.get("/static/app.css"),
        "health": client.get("/healthz"),
        "api docs": client.get("/api/v1/docs"),
        "openapi": client.get("/api/v1/openapi.json"),
    }


def test_every_kind_of_response_carries_the_security_headers(
    client: FlaskClient, admin: Actor
) -> None:
    for kind, response in sample_responses(client, admin).items():
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        assert headers["X-Frame-Options"] == "DENY", kind
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin", kind
        assert "camera=()" in headers["Permissions-Policy"], kind
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", kind
        assert "Server" not in headers, kind
        assert "Strict-Transport-Security" not in headers, kind
        policy = directives(response)
        assert policy["frame-ancestors"] == ["'none'"], kind
        assert policy["object-src"] == ["'none'"], kind
        assert policy["base-uri"] == ["'none'"], kind
        response.close()


def test_script_src_never_allows_inline_or_eval(client: FlaskClient, admin: Actor) -> None:
    for kind, response in sample_responses(client, admin).items():
        script_src = directives(response)["script-src"]
        assert "'unsafe-inline'" not in script_src, kind
        assert "'unsafe-eval'" not in script_src, kind
        assert "*" not in script_src and "data:" not in script_src, kind
        response.close()


def test_inline_styles_are_allowed_only_where_a_bundled_front_end_needs_them(
    client: FlaskClient,
) -> None:
    assert "'unsafe-inline'" not in directives(client.get("/login"))["style-src"]
    assert "'unsafe-inline'" in directives(client.get("/api/v1/docs"))["style-src"]


def test_each_response_gets_a_fresh_nonce(client: FlaskClient) -> None:
    nonces = {
        next(value for value in directives(client.get("/login"))["script-src"] if "nonce" in value)
        for _ in range(5)
    }
    assert len(nonces) == 5


def test_production_adds_hsts(settings: Settings, make_app: MakeApp) -> None:
    app = make_app(changed(settings, env="production", allow_sqlite=True))
    response = app.test_client().get("/healthz", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: path.name)
def test_no_template_has_inline_script_or_style(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    assert not INLINE_SCRIPT.search(text), "inline <script> without a nonce"
    assert not INLINE_STYLE.search(text), "inline style"


STATIC_ENDPOINTS = {
    "static",
    "docs.static",
    "docs.swagger_asset",
    "_dashboard_dash_assets.static",
    COMPONENT_SUITES_ENDPOINT,
}


def test_only_static_assets_are_declared_cacheable(app: Flask) -> None:
    assert app.extensions[headers.CACHEABLE_KEY] == STATIC_ENDPOINTS


@pytest.mark.parametrize("caller", ["signed-in browser", "bearer token"])
def test_no_response_outside_static_assets_may_be_stored_by_a_cache(
    app: Flask, make_actor: MakeActor, caller: str
) -> None:
    """Walks every registered route and method: pages, API JSON, errors, redirects."""
    world = build_world(app, make_actor)
    if caller == "bearer token":
        client, credentials = app.test_client(), world.admin.headers
    else:
        client, credentials = signed_in(app, world.admin), SAME_ORIGIN
    stored = []
    for endpoint, method, rule in routes_of(app):
        response = client.open(
            sample_path(rule, world), method=method, headers={**credentials, "If-Match": "*"}
        )
        response.close()
        if endpoint not in STATIC_ENDPOINTS and response.headers.get("Cache-Control") != "no-store":
            stored.append(
                (method, rule, response.status_code, response.headers.get("Cache-Control"))
            )
    assert stored == []


def test_account_and_second_factor_pages_are_never_stored(app: Flask, admin: Actor) -> None:
    browser = signed_in(app, admin)
    for page in ("/account", "/account/mfa", "/account/password", "/"):
        response = browser.get(page)
        assert response.status_code == 200, page
        assert response.headers["Cache-Control"] == "no-store", page
