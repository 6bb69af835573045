"""The OpenAPI document is valid, complete, and made from the validating schemas."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from skills_service import policy
from skills_service.policy import Action
from skills_service.settings import Settings
from tests.conftest import PASSWORD, Actor, MakeApp, changed
from tests.integration.browser import CSRF_FIELD, set_password

DOCS = ("/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/swagger-ui/swagger-ui.css")
HTTPS = "https://localhost"


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json
    return body


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_api_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or policy.route_action(
            rule.endpoint, published=True
        ) is (Action.PUBLIC):
            continue
        path = rule.rule.replace("<int:", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented


def test_request_schemas_forbid_unknown_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("SkillCreate", "SkillUpdate", "PersonCreate", "ProficiencyPut", "TargetPut"):
        assert schemas[name]["additionalProperties"] is False


def test_the_docs_page_is_served_without_third_party_hosts(client: FlaskClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://" not in html and "http://" not in html
    asset = client.get("/api/v1/docs/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()
    assert client.get("/api/v1/docs/swagger-ui/index.html").status_code == 404


def _status(client: FlaskClient, path: str, **options: Any) -> int:
    response = client.get(path, base_url=HTTPS, **options)
    response.close()
    return response.status_code


def _production(make_app: MakeApp, settings: Settings, **changes: object) -> Flask:
    return make_app(changed(settings, env="production", allow_sqlite=True, **changes))


def _signed_in_over_https(app: Flask, actor: Actor) -> FlaskClient:
    set_password(app, actor.person_id, PASSWORD)
    browser = app.test_client()
    login = browser.get("/login", base_url=HTTPS).get_data(as_text=True)
    token = CSRF_FIELD.search(login)
    assert token
    answer = browser.post(
        "/login",
        base_url=HTTPS,
        data={"email": actor.email, "password": PASSWORD, "csrf_token": token.group(1)},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": HTTPS, "Referer": HTTPS + "/login"},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    return browser


def test_production_shows_the_api_docs_to_no_stranger(
    make_app: MakeApp, settings: Settings
) -> None:
    stranger = _production(make_app, settings).test_client()
    for path in DOCS:
        response = stranger.get(path, base_url=HTTPS)
        assert response.status_code == 401, path
        assert response.mimetype == "application/problem+json", path


def test_production_shows_the_api_docs_to_a_token_holder(
    make_app: MakeApp, settings: Settings, member: Actor
) -> None:
    client = _production(make_app, settings).test_client()
    for path in DOCS:
        assert _status(client, path, headers=member.headers) == 200, path


def test_production_shows_the_api_docs_to_a_signed_in_browser(
    make_app: MakeApp, settings: Settings, make_actor: Any
) -> None:
    app = _production(make_app, settings)
    browser = _signed_in_over_https(app, make_actor("viewer"))
    for path in DOCS:
        assert _status(browser, path) == 200, path


def test_production_publishes_the_api_docs_when_configured(
    make_app: MakeApp, settings: Settings
) -> None:
    stranger = _production(make_app, settings, public_api_docs=True).test_client()
    for path in DOCS:
        assert _status(stranger, path) == 200, path


def test_development_keeps_the_api_docs_public(client: FlaskClient) -> None:
    for path in DOCS:
        response = client.get(path)
        response.close()
        assert response.status_code == 200, path


def test_an_error_a_static_file_answers_itself_on_the_api_is_a_problem(
    client: FlaskClient,
) -> None:
    """Found by fuzzing: a stale ``If-Match`` on a docs asset got a 412 carrying the file."""
    response = client.get("/api/v1/docs/swagger-ui/swagger-ui.css", headers={"If-Match": '"x"'})
    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"
