"""The catalogue API: validation, uniqueness, concurrency, pagination, errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service.extensions import db
from skills_service.services import skills
from tests.conftest import Actor
from tests.integration.responses import assert_problem
from tests.integration.statements import counting

SKILLS = "/api/v1/skills"


def create(client: FlaskClient, admin: Actor, **fields: Any) -> Any:
    body = {"name": "Python", "category": "Languages", **fields}
    return client.post(SKILLS, json=body, headers=admin.headers)


def test_admin_creates_a_skill_and_gets_its_etag(client: FlaskClient, admin: Actor) -> None:
    response = create(client, admin, aliases=["py", "CPython"], description="**Snakes**")
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.json == {
        "id": response.json["id"],
        "name": "Python",
        "category": "Languages",
        "description": "**Snakes**",
        "aliases": ["CPython", "py"],
        "deprecated": False,
    }


@pytest.mark.parametrize("name", ["C", "Go", "SQL", "R", "C++", "F#", "Ægir"])
def test_short_and_symbolic_real_skill_names_are_accepted(
    client: FlaskClient, admin: Actor, name: str
) -> None:
    assert create(client, admin, name=name).status_code == 201


def test_name_is_trimmed_and_inner_space_collapsed(client: FlaskClient, admin: Actor) -> None:
    assert create(client, admin, name="  Machine   learning ").json["name"] == "Machine learning"


@pytest.mark.parametrize("taken", ["python", "PYTHON", " Python "])
def test_duplicate_name_is_a_conflict_case_insensitively(
    client: FlaskClient, admin: Actor, taken: str
) -> None:
    create(client, admin)
    assert_problem(create(client, admin, name=taken), 409)


def test_an_alias_cannot_take_another_skills_name(client: FlaskClient, admin: Actor) -> None:
    create(client, admin)
    assert_problem(create(client, admin, name="Snake", aliases=["python"]), 409)


def test_a_name_cannot_take_another_skills_alias(client: FlaskClient, admin: Actor) -> None:
    create(client, admin, name="Go", aliases=["golang"])
    assert_problem(create(client, admin, name="Golang"), 409)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "category": "x"}, "name"),
        ({"name": "   ", "category": "x"}, "name"),
        ({"name": "a" * 65, "category": "x"}, "name"),
        ({"name": "bad\u202ename", "category": "x"}, "name"),
        ({"name": "zero\u200bwidth", "category": "x"}, "name"),
        ({"name": "nul\x00", "category": "x"}, "name"),
        ({"name": "ok"}, "category"),
        ({"name": 5, "category": "x"}, "name"),
        ({"name": "ok", "category": "x", "description": "d" * 5001}, "description"),
        ({"name": "ok", "category": "x", "aliases": "notalist"}, "aliases"),
        ({"name": "ok", "category": "x", "deprecated": True}, "deprecated"),
        ({"name": "ok", "category": "x", "owner": "me"}, "owner"),
    ],
)
def test_invalid_skill_is_rejected_naming_the_field(
    client: FlaskClient, admin: Actor, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(client.post(SKILLS, json=body, headers=admin.headers), 422)
    assert field in problem["errors"]
    assert client.get(SKILLS, headers=admin.headers).json["total"] == 0


def test_malformed_json_is_a_400_problem(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        SKILLS, data=b'{"name": ', content_type="application/json", headers=admin.headers
    )
    assert_problem(response, 400)


def test_a_body_that_is_not_json_is_415(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        SKILLS,
        data="name=x",
        headers=admin.headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 415)


def test_an_oversized_body_is_413(client: FlaskClient, admin: Actor) -> None:
    huge = {"name": "x", "category": "y", "description": "z" * 2_000_000}
    assert_problem(client.post(SKILLS, json=huge, headers=admin.headers), 413)


def test_an_oversized_query_string_is_414(client: FlaskClient, admin: Actor) -> None:
    assert_problem(client.get(SKILLS + "?q=" + "a" * 5000, headers=admin.headers), 414)


def test_update_needs_if_match(client: FlaskClient, admin: Actor) -> None:
    skill_id = create(client, admin).json["id"]
    response = client.patch(
        f"{SKILLS}/{skill_id}", json={"category": "Scripting"}, headers=admin.headers
    )
    assert_problem(response, 428)


def test_a_stale_if_match_is_412_and_changes_nothing(client: FlaskClient, admin: Actor) -> None:
    skill_id = create(client, admin).json["id"]
    url = f"{SKILLS}/{skill_id}"
    first = client.patch(
        url, json={"category": "Scripting"}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    assert first.headers["ETag"] == '"2"'
    stale = client.patch(
        url, json={"category": "Other"}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    assert client.get(url, headers=admin.headers).json["category"] == "Scripting"


def test_renaming_to_a_taken_name_is_a_conflict(client: FlaskClient, admin: Actor) -> None:
    create(client, admin)
    other = create(client, admin, name="Ruby").json["id"]
    response = client.patch(
        f"{SKILLS}/{other}", json={"name": "PYTHON"}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert_problem(response, 409)


def test_an_unused_skill_can_be_deleted(client: FlaskClient, admin: Actor) -> None:
    skill_id = create(client, admin).json["id"]
    url = f"{SKILLS}/{skill_id}"
    assert client.delete(url, headers={**admin.headers, "If-Match": '"1"'}).status_code == 204
    assert_problem(client.get(url, headers=admin.headers), 404)


def test_a_used_skill_cannot_be_deleted_only_deprecated(client: FlaskClient, admin: Actor) -> None:
    skill_id = create(client, admin).json["id"]
    client.put(
        f"/api/v1/people/{admin.person_id}/skills/{skill_id}",
        json={"level": 3},
        headers=admin.headers,
    )
    url = f"{SKILLS}/{skill_id}"
    assert_problem(client.delete(url, headers={**admin.headers, "If-Match": '"1"'}), 409)
    deprecated = client.patch(
        url, json={"deprecated": True}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert deprecated.json["deprecated"] is True
    listed = client.get(SKILLS + "?include_deprecated=false", headers=admin.headers).json
    assert listed["total"] == 0


def test_a_deprecated_skill_takes_no_new_proficiencies(client: FlaskClient, admin: Actor) -> None:
    skill_id = create(client, admin).json["id"]
    client.patch(
        f"{SKILLS}/{skill_id}",
        json={"deprecated": True},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    response = client.put(
        f"/api/v1/people/{admin.person_id}/skills/{skill_id}",
        json={"level": 3},
        headers=admin.headers,
    )
    assert "skill_id" in assert_problem(response, 422)["errors"]


def test_list_is_paginated_with_total_and_next_link(client: FlaskClient, admin: Actor) -> None:
    for name in ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"]:
        create(client, admin, name=name)
    first = client.get(SKILLS + "?limit=2", headers=admin.headers).json
    assert [item["name"] for item in first["items"]] == ["Alpha", "Beta"]
    assert first["total"] == 5
    second = client.get(first["next"], headers=admin.headers).json
    assert [item["name"] for item in second["items"]] == ["Delta", "Epsilon"]
    last = client.get(second["next"], headers=admin.headers).json
    assert [item["name"] for item in last["items"]] == ["Gamma"]
    assert last["next"] is None


def test_search_matches_names_and_aliases_case_insensitively(
    client: FlaskClient, admin: Actor
) -> None:
    create(client, admin, name="Kubernetes", aliases=["k8s"], category="Cloud")
    create(client, admin, name="Terraform", category="Cloud")
    found = client.get(SKILLS + "?q=K8S", headers=admin.headers).json["items"]
    assert [item["name"] for item in found] == ["Kubernetes"]
    by_category = client.get(SKILLS + "?category=cloud", headers=admin.headers).json
    assert by_category["total"] == 2


def test_like_wildcards_in_search_are_literal(client: FlaskClient, admin: Actor) -> None:
    create(client, admin, name="Python")
    assert client.get(SKILLS + "?q=%25", headers=admin.headers).json["total"] == 0
    assert client.get(SKILLS + "?q=_", headers=admin.headers).json["total"] == 0


@pytest.mark.parametrize("query", ["limit=201", "limit=0", "page=0", "limit=abc", "sort=name"])
def test_bad_query_parameters_are_rejected(client: FlaskClient, admin: Actor, query: str) -> None:
    response = client.get(f"{SKILLS}?{query}", headers=admin.headers)
    assert assert_problem(response, 422)["errors"]


def test_sql_injection_in_search_is_just_text(client: FlaskClient, admin: Actor) -> None:
    create(client, admin)
    payload = "x' OR '1'='1"
    assert client.get(SKILLS, query_string={"q": payload}, headers=admin.headers).json["total"] == 0
    assert client.get(SKILLS, headers=admin.headers).json["total"] == 1


def test_unknown_route_is_a_404_problem(client: FlaskClient, admin: Actor) -> None:
    assert_problem(client.get("/api/v1/nothing-here", headers=admin.headers), 404)


def test_wrong_method_is_a_405_problem_with_allow(client: FlaskClient, admin: Actor) -> None:
    response = client.put(SKILLS, json={}, headers=admin.headers)
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path", ["/api/v1/skills/0", "/api/v1/skills/2147483648", "/api/v1/skills/" + "9" * 40]
)
def test_an_id_no_row_can_have_is_404_never_a_database_error(
    client: FlaskClient, admin: Actor, path: str
) -> None:
    assert_problem(client.get(path, headers=admin.headers), 404)


def test_an_id_no_row_can_have_in_a_body_is_422(client: FlaskClient, admin: Actor) -> None:
    team = client.post("/api/v1/teams", json={"name": "Huge ids"}, headers=admin.headers)
    response = client.post(
        f"/api/v1/teams/{team.json['id']}/members",
        json={"person_id": 2**31},
        headers={**admin.headers, "If-Match": team.headers["ETag"]},
    )
    assert "person_id" in assert_problem(response, 422)["errors"]


def test_error_answers_are_documented_as_problem_json(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    default = document["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(default) == ["application/problem+json"]
    assert "line_errors" in document["components"]["schemas"]["Problem"]["properties"]


def test_every_page_tells_the_total_even_past_the_end(client: FlaskClient, admin: Actor) -> None:
    for name in ("Go", "Rust", "Zig"):
        assert create(client, admin, name=name).status_code == 201
    pages = {
        page: client.get(f"{SKILLS}?limit=2&page={page}", headers=admin.headers).json
        for page in (1, 2, 3)
    }
    assert [[skill["name"] for skill in pages[page]["items"]] for page in (1, 2, 3)] == [
        ["Go", "Rust"],
        ["Zig"],
        [],
    ]
    assert {body["total"] for body in pages.values()} == {3}


def test_an_empty_first_page_costs_one_statement_and_totals_zero(
    app: Flask, client: FlaskClient, admin: Actor
) -> None:
    assert create(client, admin, name="Go").status_code == 201
    with app.app_context(), counting(app) as statements:
        page = skills.list_skills(db.session, page=1, limit=10, text="no such skill")
    assert (page.items, page.total) == ([], 0)
    assert len(statements) == 1, statements
