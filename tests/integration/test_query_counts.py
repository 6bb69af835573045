"""No N+1 queries: what a request costs in SQL statements does not grow with the data.

Each endpoint is called on an organisation, then again after it has grown fourfold
(more people, skills, memberships, proficiencies and audit events). The number of
statements must stay the same, and under a fixed bound.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service.extensions import db
from skills_service.services import people, proficiencies, skills, teams
from skills_service.services.proficiencies import ProficiencyInput
from tests.conftest import Actor
from tests.integration.browser import signed_in
from tests.integration.statements import counting
from tests.integration.world import World, build_world

MAX_STATEMENTS = 15


@pytest.fixture
def world(app: Flask, make_actor: Callable[..., Actor]) -> World:
    return build_world(app, make_actor)


def grow(app: Flask, world: World, *, start: int, count: int) -> None:
    """Add ``count`` people with two skills each, all in the world's team."""
    with app.app_context():
        session = db.session
        with session.begin():
            for number in range(start, start + count):
                person = people.create_person(
                    session,
                    email=f"grown{number}@example.org",
                    name=f"Grown {number}",
                    role="member",
                )
                skill = skills.create_skill(session, name=f"Skill {number}", category="Grown")
                team = teams.get_team(session, world.team_id)
                teams.add_member(
                    session,
                    team_id=world.team_id,
                    person_id=person.id,
                    is_manager=False,
                    if_match=f'"{team.version}"',
                )
                for skill_id in (world.skill_id, skill.id):
                    proficiencies.upsert_proficiency(
                        session,
                        person_id=person.id,
                        skill_id=skill_id,
                        data=ProficiencyInput(level=1 + number % 5),
                        actor_id=person.id,
                        if_match=None,
                    )


def statements_for(app: Flask, client: FlaskClient, path: str, headers: dict[str, str]) -> int:
    client.get(
        path, headers=headers
    )  # warm: first-use bookkeeping (token last used) is not counted
    with counting(app) as statements:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return len(statements)


API_PATHS = [
    "/api/v1/skills?limit=50",
    "/api/v1/people?limit=50",
    "/api/v1/people?skill=Python:1&limit=50",
    "/api/v1/people/{subject}",
    "/api/v1/people/{subject}/skills",
    "/api/v1/people/{subject}/history",
    "/api/v1/teams?limit=50",
    "/api/v1/teams/{team}",
    "/api/v1/teams/{team}/members",
    "/api/v1/teams/{team}/gaps",
    "/api/v1/audit?limit=50",
]
PAGE_PATHS = ["/", "/skills", "/people?q=Grown", "/people/{subject}", "/teams/{team}"]


@pytest.mark.parametrize("path", API_PATHS)
def test_an_api_request_costs_the_same_statements_however_large_the_data(
    app: Flask, client: FlaskClient, world: World, path: str
) -> None:
    url = path.format(subject=world.subject.person_id, team=world.team_id)
    grow(app, world, start=0, count=5)
    small = statements_for(app, client, url, world.admin.headers)
    grow(app, world, start=5, count=15)
    large = statements_for(app, client, url, world.admin.headers)
    assert large == small, f"{url}: {small} statements, then {large} with four times the data"
    assert small <= MAX_STATEMENTS, f"{url}: {small} statements"


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_a_page_costs_the_same_statements_however_large_the_data(
    app: Flask, world: World, path: str
) -> None:
    url = path.format(subject=world.subject.person_id, team=world.team_id)
    browser = signed_in(app, world.admin)
    grow(app, world, start=0, count=5)
    small = statements_for(app, browser, url, {})
    grow(app, world, start=5, count=15)
    large = statements_for(app, browser, url, {})
    assert large == small, f"{url}: {small} statements, then {large} with four times the data"
    assert small <= MAX_STATEMENTS, f"{url}: {small} statements"


HOT_PATH_BUDGETS = {
    "/api/v1/me": 3,
    "/api/v1/skills?limit=50": 3,
    "/api/v1/people?skill=Python:1&limit=50": 4,
    "/api/v1/people?skill=Python:5&limit=50": 3,
}
"""The endpoints the HTTP benchmark loads, and the statements each may send: the
principal (token, owner and managed teams in one), then the view's own. A search
that matches nobody needs no count and no teams."""


@pytest.mark.parametrize(("path", "budget"), HOT_PATH_BUDGETS.items())
def test_a_hot_read_sends_no_more_statements_than_its_budget(
    app: Flask, client: FlaskClient, world: World, path: str, budget: int
) -> None:
    sent = statements_for(app, client, path, world.manager.headers)
    assert sent <= budget, f"{path}: {sent} statements, budget {budget}"


UPSERT_BUDGET = 9
"""The principal 1; the target person and their teams 2 (for the policy); the
proficiency 1, its update and its history 2; the audit chain's lock, event and head 3."""
SEARCH_INDEX_REFRESH = 2
"""On PostgreSQL, the person's people search row: its lock, then its tokens."""


def test_replacing_a_proficiency_sends_no_more_statements_than_its_budget(
    app: Flask, client: FlaskClient, world: World
) -> None:
    path = f"/api/v1/people/{world.subject.person_id}/skills/{world.skill_id}"
    headers = world.subject.headers
    for level in (2, 3):
        etag = client.get(path, headers=headers).headers["ETag"]
        with counting(app) as statements:
            response = client.put(
                path, json={"level": level}, headers={**headers, "If-Match": etag}
            )
        assert response.status_code == 200, response.get_json()
    indexed = db.engine(app).dialect.name == "postgresql"
    budget = UPSERT_BUDGET + (SEARCH_INDEX_REFRESH if indexed else 0)
    assert len(statements) <= budget, "\n".join(statements)
