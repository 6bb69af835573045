"""The Dash dashboard: same sign-in, same policy, CSRF on callbacks, SQL aggregates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from skills_service.dashboard import CSRF_COOKIE
from skills_service.extensions import db
from skills_service.services import analytics, people, proficiencies, skills, teams
from skills_service.services.proficiencies import ProficiencyInput
from skills_service.settings import Settings
from tests.conftest import PASSWORD, REDIS_URL, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import SAME_ORIGIN, set_password, sign_in
from tests.integration.world import World, build_world

UPDATE = "/dashboard/_dash-update-component"
OUTPUTS = ["levels", "top", "coverage", "trend"]
TODAY = date(2026, 11, 23)


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


def dashboard_client(app: Flask, actor: Actor) -> tuple[FlaskClient, str]:
    """A signed-in browser that has loaded the dashboard page, and its CSRF token."""
    set_password(app, actor.person_id, PASSWORD)
    client = app.test_client()
    assert sign_in(client, actor.email, PASSWORD).status_code == 302
    assert client.get("/dashboard/").status_code == 200
    cookie = client.get_cookie(CSRF_COOKIE, path="/dashboard/")
    assert cookie is not None
    return client, cookie.value


def callback_body(team: object = None, category: object = None) -> dict[str, Any]:
    outputs = [{"id": name, "property": "figure"} for name in OUTPUTS]
    outputs.append({"id": "team-charts", "property": "children"})
    return {
        "output": "..levels.figure...top.figure...coverage.figure...trend.figure"
        "...team-charts.children..",
        "outputs": outputs,
        "inputs": [
            {"id": "team", "property": "value", "value": team},
            {"id": "category", "property": "value", "value": category},
        ],
        "changedPropIds": ["team.value"],
        "state": [],
    }


def call(client: FlaskClient, token: str | None, **inputs: object) -> Any:
    headers = dict(SAME_ORIGIN)
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.post(UPDATE, json=callback_body(**inputs), headers=headers)


def test_the_dashboard_needs_a_signed_in_person(client: FlaskClient) -> None:
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert client.get("/dashboard/_dash-layout").status_code == 401


def test_the_page_allows_dash_by_hash_never_by_unsafe_inline(app: Flask, world: World) -> None:
    client, _ = dashboard_client(app, world.member)
    policy = client.get("/dashboard/").headers["Content-Security-Policy"]
    script_src = policy.split("script-src ")[1].split(";")[0]
    assert "'sha256-" in script_src
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src


def test_the_csrf_cookie_is_readable_by_the_page_only(app: Flask, world: World) -> None:
    client, _ = dashboard_client(app, world.member)
    cookie = client.get_cookie(CSRF_COOKIE, path="/dashboard/")
    assert cookie is not None
    assert cookie.same_site == "Strict" and not cookie.http_only


def test_a_callback_with_the_token_draws_the_org_charts(app: Flask, world: World) -> None:
    client, token = dashboard_client(app, world.member)
    response = call(client, token)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.json["response"]
    assert answer["team-charts"]["children"] == []
    levels = answer["levels"]["figure"]["data"]
    assert levels[0]["y"] == ["Python"]


def test_a_callback_without_the_token_or_from_another_site_is_refused(
    app: Flask, world: World
) -> None:
    client, token = dashboard_client(app, world.member)
    assert call(client, None).status_code == 403
    cross_site = client.post(
        UPDATE,
        json=callback_body(),
        headers={"X-CSRFToken": token, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403


def test_team_charts_only_for_that_teams_managers(app: Flask, world: World) -> None:
    member, member_token = dashboard_client(app, world.member)
    assert call(member, member_token, team=world.team_id).status_code == 403
    manager, manager_token = dashboard_client(app, world.manager)
    allowed = call(manager, manager_token, team=world.team_id)
    assert allowed.status_code == 200
    heatmap_graph = allowed.json["response"]["team-charts"]["children"][0]["props"]
    assert heatmap_graph["id"] == "heatmap"
    heatmap = heatmap_graph["figure"]["data"][0]
    assert heatmap["y"] == ["Subject Person"] and heatmap["x"] == ["Python"]
    assert call(manager, manager_token, team=world.team_id + 1).status_code == 403


@pytest.mark.parametrize("team, category", [("1", None), (True, None), (None, 7), (None, "x" * 65)])
def test_malformed_filters_are_422(
    app: Flask, world: World, team: object, category: object
) -> None:
    client, token = dashboard_client(app, world.admin)
    assert call(client, token, team=team, category=category).status_code == 422


def give(app: Flask, person_id: int, skill_id: int, level: int, **extra: Any) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            proficiencies.upsert_proficiency(
                session,
                person_id=person_id,
                skill_id=skill_id,
                data=ProficiencyInput(level=level, **extra),
                actor_id=person_id,
                if_match=None,
                unconditional=True,
            )


def test_aggregates_count_active_people_and_unexpired_levels(
    app: Flask, world: World, make_actor: MakeActor
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            sql = skills.create_skill(session, name="SQL", category="Data")
        sql_id = sql.id
    leaver = make_actor("member")
    give(app, world.member.person_id, world.skill_id, 5)
    give(app, world.manager.person_id, world.skill_id, 1, expires_on=TODAY - timedelta(days=1))
    give(app, world.member.person_id, sql_id, 4)
    give(app, leaver.person_id, sql_id, 2)
    with app.app_context():
        session = db.session
        with session.begin():
            people.update_person(session, person_id=leaver.person_id, if_match="*", active=False)
        scope = analytics.Scope(today=TODAY)
        levels = {row.skill: row.per_level for row in analytics.skill_levels(session, scope)}
        assert levels == {"Python": (0, 0, 1, 0, 1), "SQL": (0, 0, 0, 1, 0)}
        coverage = {
            row.category: (row.people, row.of)
            for row in analytics.category_coverage(session, scope)
        }
        assert coverage == {"Languages": (2, 5), "Data": (1, 5)}
        data_only = analytics.skill_levels(session, analytics.Scope(today=TODAY, category="data"))
        assert [row.skill for row in data_only] == ["SQL"]
        team_only = analytics.Scope(today=TODAY, team_id=world.team_id)
        assert [row.per_level for row in analytics.skill_levels(session, team_only)] == [
            (0, 0, 1, 0, 0)
        ]
        months = analytics.monthly_activity(session, analytics.Scope(today=date.today()))
        assert sum(month.changes for month in months) == 5


def test_the_heatmap_falls_back_to_the_most_held_skills_without_targets(
    app: Flask, world: World
) -> None:
    with app.app_context():
        session = db.session
        cells = analytics.team_heatmap(session, team_id=world.team_id, today=TODAY)
        assert [(cell.person, cell.skill, cell.level) for cell in cells] == [
            ("Subject Person", "Python", 3)
        ]
        assert teams.targets(session, world.team_id) == []


def test_a_write_as_the_first_request_of_an_app_is_not_disturbed_by_the_dashboard(
    app: Flask, admin: Actor
) -> None:
    response = app.test_client().post(
        "/api/v1/skills", json={"name": "Rust", "category": "Languages"}, headers=admin.headers
    )
    assert response.status_code == 201


@pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
def test_with_redis_a_warm_org_wide_callback_checks_out_no_database_connection(
    settings: Settings, make_app: MakeApp, world: World
) -> None:
    """The principal's snapshot is in Redis, the charts in the cache, and the org-wide
    scope names nothing to look up: the database is not asked. A named category is."""
    shared = make_app(changed(settings, redis_url=REDIS_URL))
    client, token = dashboard_client(shared, world.member)
    assert call(client, token).status_code == 200
    checkouts: list[object] = []

    def checked_out(*_: object) -> None:
        checkouts.append(None)

    pool = db.engine(shared).pool
    event.listen(pool, "checkout", checked_out)
    try:
        assert call(client, token).status_code == 200
        org_wide = len(checkouts)
        assert call(client, token, category="Languages").status_code == 200
    finally:
        event.remove(pool, "checkout", checked_out)
    assert org_wide == 0
    assert len(checkouts) > org_wide
