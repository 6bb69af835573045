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
from redis.connection import AbstractConnection

from skills_service.extensions import db
from skills_service.services import people, proficiencies, skills, teams
from skills_service.services.proficiencies import ProficiencyInput
from skills_service.settings import Settings
from tests.conftest import REDIS_URL, Actor, MakeApp, changed
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
    "/api/v1/me": 1,
    "/api/v1/skills?limit=50": 1,
    "/api/v1/people?skill=Python:1&limit=50": 4,
    "/api/v1/people?skill=Python:5&limit=50": 3,
}
"""The endpoints the HTTP benchmark loads, and the statements each may send on the
embedded default: the versions of the principal's snapshot and of the route's data
(one statement), then the view's own unless it answered stored bytes. A search that
matches nobody needs no count and no teams."""


@pytest.mark.parametrize(("path", "budget"), HOT_PATH_BUDGETS.items())
def test_a_hot_read_sends_no_more_statements_than_its_budget(
    app: Flask, client: FlaskClient, world: World, path: str, budget: int
) -> None:
    sent = statements_for(app, client, path, world.manager.headers)
    assert sent <= budget, f"{path}: {sent} statements, budget {budget}"


UPSERT_BUDGETS = {"postgresql": 12, "sqlite": 12}
"""The principal 1; the target person with their teams 1 (for the policy); the
proficiency 1, its update and its history 2; the dashboard's totals 4 (the person's
lock, the skill's delta, and for a change of coverage the person's other qualifying
proficiencies and the category's delta); on PostgreSQL the person's people search row
1 (under the same person lock); the audit chain's lock 1, then its event and head in
one statement on PostgreSQL (a data-modifying CTE), two on SQLite."""


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
    budget = UPSERT_BUDGETS[db.engine(app).dialect.name]
    assert len(statements) <= budget, "\n".join(statements)


UNCHANGED_READS = ["/api/v1/me", "/api/v1/skills?limit=50", "/api/v1/skills/{skill}"]


@pytest.mark.parametrize("path", UNCHANGED_READS)
@pytest.mark.parametrize("conditional", [False, True], ids=["200", "304"])
def test_embedded_a_repeated_read_of_unchanged_data_sends_only_the_version_read(
    app: Flask, client: FlaskClient, world: World, path: str, conditional: bool
) -> None:
    url = path.format(skill=world.skill_id)
    etag = client.get(url, headers=world.manager.headers).headers["ETag"]
    headers = {**world.manager.headers, **({"If-None-Match": etag} if conditional else {})}
    with counting(app) as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == (304 if conditional else 200)
    assert len(statements) <= 1, "\n".join(statements)


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
@pytest.mark.parametrize("path", UNCHANGED_READS)
def test_with_redis_a_repeated_read_of_unchanged_data_sends_no_statement(
    settings: Settings, make_app: MakeApp, world: World, path: str
) -> None:
    shared = make_app(changed(settings, redis_url=REDIS_URL))
    client = shared.test_client()
    url = path.format(skill=world.skill_id)
    etag = client.get(url, headers=world.manager.headers).headers["ETag"]
    with counting(shared) as statements:
        fresh = client.get(url, headers=world.manager.headers)
        unchanged = client.get(url, headers={**world.manager.headers, "If-None-Match": etag})
    assert (fresh.status_code, unchanged.status_code) == (200, 304)
    assert statements == []


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
def test_with_redis_a_warm_api_read_and_its_rate_limits_cost_one_redis_round_trip(
    settings: Settings, make_app: MakeApp, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The principal's snapshot, the versions and every budget's counter: one script."""
    shared = make_app(changed(settings, redis_url=REDIS_URL, ratelimit_default="50/minute"))
    client = shared.test_client()
    url = "/api/v1/skills?limit=50"
    assert client.get(url, headers=world.manager.headers).status_code == 200
    sent = _redis_commands(monkeypatch)
    response = client.get(url, headers=world.manager.headers)
    assert response.status_code == 200
    assert (response.headers["RateLimit-Limit"], response.headers["RateLimit-Remaining"]) == (
        "50",
        "48",
    )
    assert len(sent) == 1


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
def test_with_redis_a_warm_browser_request_reads_its_session_then_one_script(
    settings: Settings, make_app: MakeApp, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's record, then its principal's snapshot with every budget's counter."""
    shared = make_app(changed(settings, redis_url=REDIS_URL, ratelimit_default="50/minute"))
    browser = signed_in(shared, world.manager)
    assert browser.get("/skills").status_code == 200
    sent = _redis_commands(monkeypatch)
    response = browser.get("/skills")
    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == "48"
    assert len(sent) == 2, sent


def _redis_commands(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every command (or pipeline) sent to Redis from now on."""
    sent: list[object] = []
    send = AbstractConnection.send_packed_command

    def counted(connection: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        send(connection, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_search_by_skill_id_sends_no_lookup_of_the_skill(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A match proves the skill exists; only a name is looked up."""
    by_name = statements_for(
        app, client, "/api/v1/people?skill=Python:1&limit=50", world.manager.headers
    )
    by_id = statements_for(
        app, client, f"/api/v1/people?skill={world.skill_id}:1&limit=50", world.manager.headers
    )
    assert by_id == by_name - 1
