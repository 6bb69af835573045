"""Drive the sign-in pages like a browser would: fetch the form, post it back."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from skills_service.extensions import db
from skills_service.services import passwords, people
from tests.conftest import PASSWORD, Actor

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(
    client: FlaskClient, path: str, data: dict[str, Any], token_from: str | None = None
) -> Any:
    token = csrf_token(client, token_from or path)
    return client.post(path, data={**data, "csrf_token": token}, headers=SAME_ORIGIN)


def sign_in(client: FlaskClient, email: str, password: str) -> Any:
    return post_form(client, "/login", {"email": email, "password": password})


def set_password(app: Flask, person_id: int, password: str) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            person = people.get_person(session, person_id)
            person.password_hash = passwords.hash_password(password)


def with_password(app: Flask, make_actor: Callable[..., Actor], role: str = "member") -> Actor:
    """A new person of ``role`` who signs in with ``PASSWORD``."""
    actor = make_actor(role)
    set_password(app, actor.person_id, PASSWORD)
    return actor


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("skills_session") or client.get_cookie("__Host-skills_session")
    return cookie.value if cookie else None


def signed_in(app: Flask, actor: Actor) -> FlaskClient:
    """A browser signed in as ``actor`` (a password is set for them first)."""
    set_password(app, actor.person_id, PASSWORD)
    client = app.test_client()
    assert sign_in(client, actor.email, PASSWORD).status_code == 302
    return client


def page_text(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def submit(client: FlaskClient, page: str, path: str, data: dict[str, Any]) -> Any:
    """Post a form with the CSRF token of an already fetched page."""
    token = CSRF_FIELD.search(page)
    assert token
    return client.post(path, data={**data, "csrf_token": token.group(1)}, headers=SAME_ORIGIN)
