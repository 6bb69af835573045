"""Malformed requests found as server errors: each is a clear 4xx, nothing is written.

Every class goes through one shared mechanism: the JSON loader (depth and number
size), the text validator (NUL and lone surrogates, in JSON strings, query strings,
form fields of either encoding and file names) and the id range (1 to 2^31 - 1).
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from skills_service.extensions import db
from skills_service.models import AuditEvent, Person, Skill
from skills_service.security.json_body import MAX_DEPTH, bounded_loads
from skills_service.services.common import MAX_ID
from tests.conftest import Actor, MakeActor
from tests.integration.browser import SAME_ORIGIN, csrf_token, signed_in
from tests.integration.world import build_world

TOO_LARGE_ID = MAX_ID + 1
LONE_SURROGATES = {"high": "\ud800", "low": "\udfff", "high-then-text": "a\udbffb"}


def rows_written(app: Flask, client: FlaskClient, actor: Actor) -> tuple[int, int, int]:
    """Skills, people and audit events, once ``actor``'s token has been used (its first use
    is audited)."""
    client.get("/api/v1/me", headers=actor.headers)
    with app.app_context():
        session = db.session
        counted = tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Skill, Person, AuditEvent)
        )
        session.rollback()
        return counted  # type: ignore[return-value]


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


def post_raw_json(
    client: FlaskClient, actor: Actor, text: str, path: str = "/api/v1/skills"
) -> Any:
    return client.post(
        path, data=text, headers={**actor.headers, "Content-Type": "application/json"}
    )


def test_deeply_nested_json_is_refused_before_it_is_parsed(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    before = rows_written(app, client, admin)
    for body in ("[" * 100_000, '{"a":' * 50_000, '{"name": ' + "[" * 40 + "]" * 40 + "}"):
        refused = problem_of(post_raw_json(client, admin, body), 400)
        assert "nested" in refused["detail"]
    assert rows_written(app, client, admin) == before


def test_json_nested_within_the_limit_is_read() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert bounded_loads(nested) is not None
    assert bounded_loads('["[[[[", {"k": "]]]]"}]') == ["[[[[", {"k": "]]]]"}]


@pytest.mark.parametrize(
    "number", ["9" * 5000, "-" + "9" * 5000, "1" + "0" * 40, "1e999", "0." + "1" * 5000]
)
def test_an_oversized_json_number_is_refused_not_converted(
    app: Flask, client: FlaskClient, admin: Actor, number: str
) -> None:
    before = rows_written(app, client, admin)
    body = f'{{"person_id": {number}}}'
    refused = problem_of(post_raw_json(client, admin, body, "/api/v1/teams/1/members"), 400)
    assert "number" in refused["detail"]
    assert rows_written(app, client, admin) == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_outside_the_standard_are_refused(
    client: FlaskClient, admin: Actor, constant: str
) -> None:
    body = f'{{"person_id": {constant}}}'
    assert problem_of(post_raw_json(client, admin, body, "/api/v1/teams/1/members"), 400)


def test_a_body_that_is_not_utf8_is_refused(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        "/api/v1/skills",
        data=b'{"name": "\xff"}',
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert "UTF-8" in problem_of(response, 400)["detail"]


@pytest.mark.parametrize("surrogate", LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys())
def test_a_lone_surrogate_in_any_json_string_is_refused_naming_the_field(
    app: Flask, client: FlaskClient, make_actor: MakeActor, surrogate: str
) -> None:
    world = build_world(app, make_actor)
    admin = world.admin
    before = rows_written(app, client, admin)
    writes = [
        ("POST", "/api/v1/skills", {"name": surrogate, "category": "Data"}, "name"),
        ("POST", "/api/v1/skills", {"name": "Go", "aliases": [surrogate]}, "aliases"),
        ("POST", "/api/v1/people", {"email": "x@example.org", "name": surrogate}, "name"),
        ("POST", "/api/v1/teams", {"name": "Ops", "description": surrogate}, "description"),
        (
            "PUT",
            f"/api/v1/people/{world.subject.person_id}/skills/{world.skill_id}",
            {"level": 3, "note": surrogate},
            "note",
        ),
    ]
    for method, path, body, field in writes:
        text = json.dumps(body, ensure_ascii=True)  # "\\ud800", as a client sends it
        response = client.open(
            path,
            method=method,
            data=text,
            headers={**admin.headers, "Content-Type": "application/json", "If-Match": "*"},
        )
        refused = problem_of(response, 422)
        assert field in refused["errors"], (path, refused)
    assert rows_written(app, client, admin) == before


def test_a_lone_surrogate_as_a_json_key_is_refused(client: FlaskClient, admin: Actor) -> None:
    refused = problem_of(post_raw_json(client, admin, '{"\\ud800": 1}'), 422)
    assert refused["errors"]


def test_an_id_beyond_the_column_range_is_refused_in_json_bodies(
    app: Flask, client: FlaskClient, make_actor: MakeActor
) -> None:
    world = build_world(app, make_actor)
    admin = world.admin
    for path, body, method in (
        (f"/api/v1/teams/{world.team_id}/members", {"person_id": TOO_LARGE_ID}, "POST"),
        (f"/api/v1/teams/{world.team_id}/targets", [{"skill_id": TOO_LARGE_ID, "level": 3}], "PUT"),
    ):
        response = client.open(
            path, method=method, json=body, headers={**admin.headers, "If-Match": "*"}
        )
        assert response.status_code == 422, (path, response.get_data(as_text=True)[:300])


@pytest.mark.parametrize("number", [str(TOO_LARGE_ID), str(2**63), "9" * 30])
def test_an_id_beyond_the_column_range_is_refused_in_query_strings(
    app: Flask, client: FlaskClient, admin: Actor, number: str
) -> None:
    for path in (f"/api/v1/people?skill={number}:3", f"/api/v1/audit?actor_id={number}"):
        assert client.get(path, headers=admin.headers).status_code in (400, 422), path
    browser = signed_in(app, admin)
    assert browser.get(f"/people?skill={number}&level=3").status_code in (400, 422)
    assert browser.get(f"/admin/audit?actor={number}").status_code == 400


@pytest.mark.parametrize("number", [str(TOO_LARGE_ID), str(2**64), "\uff13"])
def test_an_id_beyond_the_column_range_is_refused_in_form_fields(
    app: Flask, make_actor: MakeActor, number: str
) -> None:
    world = build_world(app, make_actor)
    manager = signed_in(app, world.manager)
    member = signed_in(app, world.subject)
    admin = signed_in(app, world.admin)
    api = app.test_client()
    forms = [
        (member, "/", "/my-skills", {"skill_id": number, "level": "3"}),
        (member, "/", "/my-skills/remove", {"skill_id": number, "version": "1"}),
        (
            manager,
            "/verifications",
            "/verifications",
            {"person_id": number, "skill_id": str(world.skill_id), "version": "1"},
        ),
        (
            manager,
            f"/teams/{world.team_id}",
            f"/teams/{world.team_id}/targets",
            {"skill_id": number, "level": "3", "version": "1"},
        ),
        (
            admin,
            f"/admin/teams/{world.team_id}",
            f"/admin/teams/{world.team_id}/members/remove",
            {"person_id": number, "version": "1"},
        ),
    ]
    before = rows_written(app, api, world.admin)
    for browser, page, path, data in forms:
        data = {**data, "csrf_token": csrf_token(browser, page)}
        response = browser.post(path, data=data, headers=SAME_ORIGIN)
        assert response.status_code in (400, 422), (path, response.status_code)
        assert response.mimetype == "text/html"
    assert rows_written(app, api, world.admin) == before


def test_a_nul_in_a_multipart_form_field_is_refused_like_a_urlencoded_one(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    browser = signed_in(app, admin)
    before = rows_written(app, client, admin)
    for encoding in ("multipart/form-data", "application/x-www-form-urlencoded"):
        data = {
            "csrf_token": csrf_token(browser, "/admin/people"),
            "email": "nul@example.org",
            "name": "Ada\x00Lovelace",
            "role": "member",
        }
        response = browser.post(
            "/admin/people", data=data, content_type=encoding, headers=SAME_ORIGIN
        )
        assert response.status_code == 400, encoding
        assert response.mimetype == "text/html"
        assert "NUL" in response.get_data(as_text=True)
    assert rows_written(app, client, admin) == before


def test_a_multipart_part_without_a_name_is_answered_not_a_server_error(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    """werkzeug keys a part with no ``name`` as ``None``: found by fuzzing as a 500."""
    browser = signed_in(app, admin)
    token = csrf_token(browser, "/admin/people")
    boundary = "fuzzboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f"--{boundary}--\r\n"
    )
    for path in ("/admin/people", "/account/password", "/login"):
        response = browser.post(
            path,
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers=SAME_ORIGIN,
        )
        assert response.status_code < 500, (path, response.status_code)


def test_a_nul_in_an_uploaded_file_name_is_refused(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    csv_body = b"email,name,role,skill,level\r\n"
    response = client.post(
        "/api/v1/import",
        data={"file": (BytesIO(csv_body), "matrix\x00.csv")},
        headers=admin.headers,
        content_type="multipart/form-data",
    )
    refused = problem_of(response, 400)
    assert "NUL" in refused["detail"]


def test_a_nul_in_a_csv_cell_is_refused_with_its_line(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        "/api/v1/import",
        data="email,name,role,skill,level\r\nada@example.org,Ada\x00,member,Rust,3\r\n",
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    refused = problem_of(response, 422)
    assert refused["line_errors"][0]["line"] == 2
