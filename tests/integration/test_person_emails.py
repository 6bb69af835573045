"""A person's email is an address wherever it is set: API, admin page, CLI and CSV import."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from skills_service.cli import cli
from skills_service.extensions import db
from skills_service.models import Person
from skills_service.services import people
from tests.conftest import Actor
from tests.integration.browser import SAME_ORIGIN, csrf_token, signed_in

NOT_ADDRESSES = {
    "two-ats": "ada@lovelace@example.org",
    "space": "ada lovelace@example.org",
    "markup-local": "<script>@example.org",
    "markup-domain": "ada@<b>example.org",
    "control": "ada\x07@example.org",
    "zero-width": "ada\u200b@example.org",
    "quoted-local": '"ada"@example.org',
    "display-name": "Ada <ada@example.org>",
    "no-local-part": "@example.org",
    "no-dot-in-domain": "ada@localhost",
    "underscore-domain": "ada@exa_mple.org",
    "label-starting-with-hyphen": "ada@-example.org",
    "invalid-idna": "ada@xn--zz.org",
}
ADDRESSES = {
    "plain": ("ada@example.org", "ada@example.org"),
    "case-and-plus": ("Ada.Lovelace+skills@Example.ORG", "ada.lovelace+skills@example.org"),
    "unicode-domain": ("zoë@bücher.de", "zoë@bücher.de"),
    "punycode-domain": ("zoe@xn--bcher-kva.de", "zoe@bücher.de"),
    "formula-characters": ("=1+1@example.org", "=1+1@example.org"),
}


def people_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Person)) or 0
        db.session.rollback()
        return count


@pytest.mark.parametrize("email", NOT_ADDRESSES.values(), ids=NOT_ADDRESSES.keys())
def test_the_api_refuses_a_person_email_that_is_not_an_address(
    app: Flask, client: FlaskClient, admin: Actor, email: str
) -> None:
    before = people_count(app)
    response = client.post(
        "/api/v1/people", json={"email": email, "name": "Ada"}, headers=admin.headers
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert list(response.json["errors"]) == ["email"]
    assert people_count(app) == before


@pytest.mark.parametrize(("email", "stored"), ADDRESSES.values(), ids=ADDRESSES.keys())
def test_the_api_stores_an_address_in_one_spelling(
    client: FlaskClient, admin: Actor, email: str, stored: str
) -> None:
    response = client.post(
        "/api/v1/people", json={"email": email, "name": "Ada"}, headers=admin.headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert response.json["email"] == stored


@pytest.mark.parametrize("email", NOT_ADDRESSES.values(), ids=NOT_ADDRESSES.keys())
def test_the_admin_page_refuses_a_person_email_that_is_not_an_address(
    app: Flask, admin: Actor, email: str
) -> None:
    browser = signed_in(app, admin)
    before = people_count(app)
    response = browser.post(
        "/admin/people",
        data={
            "csrf_token": csrf_token(browser, "/admin/people"),
            "email": email,
            "name": "Ada",
            "role": "member",
        },
        headers=SAME_ORIGIN,
    )
    assert response.status_code in (400, 422), response.status_code
    assert response.mimetype == "text/html"
    assert people_count(app) == before


@pytest.mark.parametrize("email", NOT_ADDRESSES.values(), ids=NOT_ADDRESSES.keys())
def test_the_csv_import_refuses_a_person_email_that_is_not_an_address(
    app: Flask, client: FlaskClient, admin: Actor, email: str
) -> None:
    quoted = '"' + email.replace('"', '""') + '"'
    before = people_count(app)
    response = client.post(
        "/api/v1/import",
        data=f"email,name,role,skill,level\r\n{quoted},Ada,member,,\r\n".encode(),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.json["line_errors"][0]["column"] == "email"
    assert people_count(app) == before


@pytest.mark.parametrize(
    "email", [NOT_ADDRESSES["markup-local"], NOT_ADDRESSES["underscore-domain"]]
)
def test_create_user_refuses_a_person_email_that_is_not_an_address(
    app: Flask, runner: FlaskCliRunner, email: str
) -> None:
    result = runner.invoke(cli, ["create-user", email, "--role", "member", "--no-password"])
    assert result.exit_code != 0
    assert "not valid" in result.output
    assert people_count(app) == 0


def test_an_address_is_found_by_any_of_its_spellings(app: Flask, admin: Actor) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            people.create_person(session, email="zoe@xn--bcher-kva.de", name="Zoe", role="member")
        assert people.find_by_email(session, "ZOE@BÜCHER.DE") is not None
