"""The queries that grow with the organisation are served by indexes (PostgreSQL).

Each test calls a service function as the API does, captures the SQL it really sent
(bound parameters included) and asks PostgreSQL for the plan with sequential scans
priced out (``enable_seqscan = off``). The planner still falls back to a sequential
scan when no index can serve the query, so a ``Seq Scan`` in the plan means an index
is missing, and the index each query relies on must appear by name. The tables here
are small; the timings at 100,000 people are in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from skills_service.extensions import db
from skills_service.services import audit, proficiencies, skills, teams, tokens
from skills_service.services.audit import EventFilter
from skills_service.services.common import etag_for
from skills_service.services.proficiencies import ProficiencyInput
from skills_service.services.search import SkillCondition, people_matching
from tests.conftest import POSTGRES_URL, Actor, MakeActor, fresh_postgresql
from tests.integration.world import World, build_world

TODAY = date(2026, 11, 23)
SKILL_NAMES = ("Go", "Rust", "SQL")


pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="query plans are checked on PostgreSQL, the production database"
)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only: SQLite's planner is not what production runs."""
    return fresh_postgresql(request)


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


@pytest.fixture
def skill_ids(app: Flask, world: World) -> list[int]:
    """Three more skills, held at several levels by the world's people."""
    with app.app_context():
        session = db.session
        with session.begin():
            made = [
                skills.create_skill(session, name=name, category="Languages").id
                for name in SKILL_NAMES
            ]
            for number, actor in enumerate((world.member, world.manager, world.subject)):
                for skill_id in made:
                    proficiencies.upsert_proficiency(
                        session,
                        person_id=actor.person_id,
                        skill_id=skill_id,
                        data=ProficiencyInput(level=2 + number),
                        actor_id=actor.person_id,
                        if_match=None,
                    )
    return made


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def plan_of(
    app: Flask, call: Callable[[Session], object], *, mentioning: str
) -> list[dict[str, Any]]:
    """Every node of the plan of the last statement ``call`` sent that reads ``mentioning``."""
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))

    engine = db.engine(app)
    with app.app_context():
        session = db.session
        event.listen(engine, "before_cursor_execute", capture)
        try:
            call(session)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        statement, parameters = next(
            (statement, parameters)
            for statement, parameters in reversed(sent)
            if f" {mentioning}" in statement
        )
        connection = session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement, parameters
        ).scalar_one()
        session.rollback()
    return list(plan_nodes(plan[0]["Plan"]))


def sequential_scans(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"}


def indexes_used(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Index Name"] for node in nodes if "Index Name" in node}


def test_people_search_finds_people_through_the_gin_index_of_their_tokens(
    app: Flask, skill_ids: list[int]
) -> None:
    conditions = [SkillCondition(skill_id=skill_id, min_level=2) for skill_id in skill_ids]
    nodes = plan_of(
        app,
        lambda session: people_matching(
            session, conditions=conditions, text=None, page=1, limit=50, today=TODAY
        ),
        mentioning="person_search",
    )
    assert sequential_scans(nodes) == set()
    assert "ix_person_search_tokens" in indexes_used(nodes)
    assert "proficiency" not in {node.get("Relation Name") for node in nodes}


def test_listing_people_without_conditions_reads_them_in_name_order_and_counts_a_bounded_few(
    app: Flask, world: World
) -> None:
    nodes = plan_of(
        app,
        lambda session: people_matching(
            session, conditions=[], text=None, page=1, limit=50, today=TODAY
        ),
        mentioning="person",
    )
    assert "ix_person_name_key" in indexes_used(nodes)
    limited = [node for node in nodes if node["Node Type"] == "Limit"]
    under_a_limit = {
        scan["Relation Name"]
        for limit in limited
        for scan in plan_nodes(limit)
        if scan["Node Type"] == "Seq Scan"
    }
    assert sequential_scans(nodes) <= under_a_limit


def test_a_token_is_found_by_its_hash_through_a_unique_index(app: Flask, world: World) -> None:
    nodes = plan_of(
        app,
        lambda session: tokens.authenticate(session, world.member.token),
        mentioning="api_token",
    )
    assert sequential_scans(nodes) == set()
    assert any("token_hash" in name for name in indexes_used(nodes))


def test_team_gaps_read_members_and_proficiencies_through_indexes(
    app: Flask, world: World, skill_ids: list[int]
) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            team = teams.get_team(session, world.team_id)
            teams.replace_targets(
                session,
                team_id=world.team_id,
                wanted=[(skill_id, 3) for skill_id in skill_ids],
                if_match=etag_for(team.version),
            )
    nodes = plan_of(
        app,
        lambda session: teams.gaps(session, team_id=world.team_id, today=TODAY),
        mentioning="team_target",
    )
    assert sequential_scans(nodes) == set()


def test_a_persons_skills_are_read_by_the_person_key(app: Flask, world: World) -> None:
    nodes = plan_of(
        app,
        lambda session: proficiencies.proficiencies_of(session, world.subject.person_id),
        mentioning="proficiency",
    )
    assert sequential_scans(nodes) == set()


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (lambda actor: EventFilter(actor_id=actor.person_id), "ix_audit_event_actor_id"),
        (lambda actor: EventFilter(action="proficiency.created"), "ix_audit_event_action"),
    ],
    ids=["by-actor", "by-action"],
)
def test_audit_filters_are_served_by_their_indexes(
    app: Flask, world: World, filters: Callable[[Actor], EventFilter], index: str
) -> None:
    nodes = plan_of(
        app,
        lambda session: audit.events(session, filters(world.admin), page=1, limit=50),
        mentioning="audit_event",
    )
    assert sequential_scans(nodes) == set()
    assert index in indexes_used(nodes)
