"""People: administration, and search by several skill conditions plus text."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service.extensions import db
from skills_service.services import proficiencies, skills
from skills_service.services.proficiencies import ProficiencyInput
from tests.conftest import Actor, MakeActor
from tests.integration.statements import counting

PEOPLE = "/api/v1/people"


@pytest.fixture
def catalogue(app: Flask) -> dict[str, int]:
    with app.app_context():
        session = db.session
        with session.begin():
            made = [
                skills.create_skill(session, name="Python", category="Languages"),
                skills.create_skill(session, name="Go", category="Languages", aliases=["golang"]),
                skills.create_skill(session, name="SQL", category="Data"),
            ]
        return {skill.name: skill.id for skill in made}


def give(
    app: Flask, person: Actor, skill_id: int, level: int, expires_on: date | None = None
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            proficiencies.upsert_proficiency(
                session,
                person_id=person.person_id,
                skill_id=skill_id,
                data=ProficiencyInput(level=level, expires_on=expires_on),
                actor_id=person.person_id,
                if_match=None,
            )


def search(client: FlaskClient, actor: Actor, **query: Any) -> Any:
    return client.get(PEOPLE, query_string=query, headers=actor.headers)


def names(response: Any) -> list[str]:
    return [item["name"] for item in response.json["items"]]


def test_search_requires_every_condition(
    app: Flask, client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    both = make_actor("member", name="Both Skills")
    python_only = make_actor("member", name="Python Only")
    give(app, both, catalogue["Python"], 4)
    give(app, both, catalogue["Go"], 3)
    give(app, python_only, catalogue["Python"], 5)
    response = search(client, both, skill=["Python:3", "golang:2"])
    assert names(response) == ["Both Skills"]
    assert response.json["total"] == 1


def test_search_orders_by_relevance(
    app: Flask, client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    good, better = make_actor("member", name="Good"), make_actor("member", name="Better")
    give(app, good, catalogue["SQL"], 3)
    give(app, better, catalogue["SQL"], 5)
    assert names(search(client, good, skill="sql:2")) == ["Better", "Good"]


def test_minimum_level_is_inclusive_and_enforced(
    app: Flask, client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    three = make_actor("member", name="Three")
    give(app, three, catalogue["SQL"], 3)
    assert names(search(client, three, skill=f"{catalogue['SQL']}:3")) == ["Three"]
    assert names(search(client, three, skill="SQL:4")) == []


def test_expired_certifications_do_not_count_unless_asked(
    app: Flask, client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    lapsed = make_actor("member", name="Lapsed")
    give(app, lapsed, catalogue["Go"], 5, expires_on=date.today() - timedelta(days=1))
    assert names(search(client, lapsed, skill="Go:1")) == []
    assert names(search(client, lapsed, skill="Go:1", include_expired="true")) == ["Lapsed"]


def test_text_filters_on_name(
    app: Flask, client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    ada, bob = make_actor("member", name="Ada Lovelace"), make_actor("member", name="Bob")
    give(app, ada, catalogue["Python"], 2)
    give(app, bob, catalogue["Python"], 2)
    assert names(search(client, ada, skill="Python:1", q="love")) == ["Ada Lovelace"]
    assert names(search(client, ada, q="LOVELACE")) == ["Ada Lovelace"]


@pytest.mark.parametrize(
    "condition",
    [
        "Python:6",
        "Python:0",
        "Python:x",
        ":3",
        "Nonexistent:2",
        "Python:3:4",
        "0:2",
        "99999:2",
        "99999999999999999999:2",
    ],
)
def test_bad_conditions_are_422_naming_skill(
    client: FlaskClient, member: Actor, catalogue: dict[str, int], condition: str
) -> None:
    response = search(client, member, skill=condition)
    assert response.status_code == 422
    assert "skill" in response.json["errors"]


def test_an_unknown_skill_id_beside_a_known_one_is_422_naming_it(
    client: FlaskClient, member: Actor, catalogue: dict[str, int]
) -> None:
    response = search(client, member, skill=[f"{catalogue['Python']}:1", "99999:1"])
    assert response.status_code == 422
    assert response.json["errors"]["skill"] == ["No skill has the id 99999."]


def test_too_many_conditions_are_rejected(
    client: FlaskClient, member: Actor, catalogue: dict[str, int]
) -> None:
    assert search(client, member, skill=["Python:1"] * 11).status_code == 422


def test_search_pages_carry_total_and_next(
    app: Flask, client: FlaskClient, make_actor: MakeActor, catalogue: dict[str, int]
) -> None:
    found = [make_actor("member", name=f"Person {n}") for n in range(3)]
    for person in found:
        give(app, person, catalogue["SQL"], 2)
    first = search(client, found[0], skill="SQL:1", limit=2).json
    assert first["total"] == 3 and len(first["items"]) == 2
    rest = client.get(first["next"], headers=found[0].headers).json
    assert len(rest["items"]) == 1 and rest["next"] is None


def test_admin_creates_people_with_normalised_unique_email(
    client: FlaskClient, admin: Actor
) -> None:
    created = client.post(
        PEOPLE, json={"email": " Ada@Example.ORG ", "name": "Ada"}, headers=admin.headers
    )
    assert created.status_code == 201
    assert created.json["email"] == "ada@example.org"
    assert created.json["role"] == "member"
    again = client.post(
        PEOPLE,
        json={"email": "\uff21\uff24\uff21@example.org", "name": "Ada 2"},
        headers=admin.headers,
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "X"}, "email"),
        ({"email": "a b@example.org", "name": "X"}, "email"),
        ({"email": "x@example.org", "name": "X", "role": "root"}, "role"),
        ({"email": "x@example.org", "name": ""}, "name"),
        ({"email": "x@example.org", "name": "X", "password": "secret"}, "password"),
    ],
)
def test_invalid_person_is_rejected_naming_the_field(
    client: FlaskClient, admin: Actor, body: dict[str, Any], field: str
) -> None:
    response = client.post(PEOPLE, json=body, headers=admin.headers)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_admin_changes_a_role_with_if_match(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    target = f"{PEOPLE}/{member.person_id}"
    etag = client.get(target, headers=admin.headers).headers["ETag"]
    changed = client.patch(
        target, json={"role": "manager"}, headers={**admin.headers, "If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json["role"] == "manager"
    me = client.get("/api/v1/me", headers=member.headers).json
    assert me["role"] == "manager"


def test_deactivated_people_lose_api_access(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    target = f"{PEOPLE}/{member.person_id}"
    client.patch(target, json={"active": False}, headers={**admin.headers, "If-Match": '"1"'})
    assert client.get("/api/v1/me", headers=member.headers).status_code == 401


def test_skill_terms_resolve_by_id_name_and_alias_in_at_most_two_queries(
    app: Flask, catalogue: dict[str, int]
) -> None:
    terms = [str(catalogue["SQL"]), "python", "GOLANG", "Nonexistent", "99999999999999999999"]
    with app.app_context(), counting(app) as statements:
        found = skills.skill_ids_named(db.session, terms)
    assert found == {
        str(catalogue["SQL"]): catalogue["SQL"],
        "python": catalogue["Python"],
        "GOLANG": catalogue["Go"],
    }
    assert len(statements) <= 2
