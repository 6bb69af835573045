"""The dashboard's running totals always equal a full recount of the proficiencies.

The recount is the query the org-wide charts ran before the totals existed: every
proficiency of an active person whose certification has not expired, grouped in
SQL. The totals must agree with it after any sequence of writes, deletes, bulk
changes, (de)activations, skills changing category, folds and days passing, on
both backends, and after concurrent writers on PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import distinct, func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from skills_service import migrations
from skills_service.cli import cli
from skills_service.database import database_sessions
from skills_service.errors import DomainError
from skills_service.extensions import db
from skills_service.models import (
    CategoryCoverageDelta,
    Person,
    Proficiency,
    Skill,
    SkillLevelDelta,
)
from skills_service.services import analytics, demo_data, people, proficiencies, skills, summaries
from skills_service.services.proficiencies import ProficiencyInput
from skills_service.services.search import counts_on

START = date(2026, 6, 1)
PEOPLE = 4
CATEGORIES = ("Cloud", "Data")
SKILLS = 4


def recount_levels(
    session: Session, today: date, category: str | None
) -> set[tuple[str, int, int]]:
    statement = (
        select(Skill.name, Proficiency.level, func.count())
        .join(Skill, Skill.id == Proficiency.skill_id)
        .join(Person, Person.id == Proficiency.person_id)
        .where(Person.active, counts_on(Proficiency.expires_on, today))
        .group_by(Skill.name, Proficiency.level)
    )
    if category:
        statement = statement.where(func.lower(Skill.category) == category.lower())
    return {(str(name), int(level), int(n)) for name, level, n in session.execute(statement)}


def recount_coverage(session: Session, today: date, category: str | None) -> list[tuple[str, int]]:
    statement = (
        select(Skill.category, func.count(distinct(Proficiency.person_id)))
        .join(Skill, Skill.id == Proficiency.skill_id)
        .join(Person, Person.id == Proficiency.person_id)
        .where(
            Person.active,
            counts_on(Proficiency.expires_on, today),
            Proficiency.level >= summaries.COVERAGE_LEVEL,
        )
        .group_by(Skill.category)
        .order_by(Skill.category)
    )
    if category:
        statement = statement.where(func.lower(Skill.category) == category.lower())
    return [(str(name), int(n)) for name, n in session.execute(statement)]


def assert_totals_match_recount(session: Session, today: date) -> None:
    for category in (None, *CATEGORIES):
        assert set(summaries.skill_levels(session, today=today, category=category)) == (
            recount_levels(session, today, category)
        ), (today, category)
        assert list(summaries.category_coverage(session, today=today, category=category)) == (
            recount_coverage(session, today, category)
        ), (today, category)


@dataclass
class Organisation:
    person_ids: list[int]
    skill_ids: list[int]
    today: list[date] = field(default_factory=lambda: [START])


def small_organisation(app: Flask) -> Organisation:
    with app.app_context(), db.session.begin():
        person_ids = [
            people.create_person(
                db.session, email=f"p{index}@example.com", name=f"P {index}", role="member"
            ).id
            for index in range(PEOPLE)
        ]
        skill_ids = [
            skills.create_skill(
                db.session, name=f"Skill {index}", category=CATEGORIES[index % len(CATEGORIES)]
            ).id
            for index in range(SKILLS)
        ]
    return Organisation(person_ids, skill_ids)


people_index = st.integers(0, PEOPLE - 1)
skill_index = st.integers(0, SKILLS - 1)
expiry = st.one_of(st.none(), st.integers(-3, 6))
steps = st.one_of(
    st.tuples(st.just("set"), people_index, skill_index, st.integers(1, 5), expiry),
    st.tuples(st.just("delete"), people_index, skill_index),
    st.tuples(
        st.just("bulk"), st.lists(st.tuples(people_index, skill_index, st.integers(1, 5), expiry))
    ),
    st.tuples(st.just("active"), people_index, st.booleans()),
    st.tuples(st.just("category"), skill_index, st.sampled_from(CATEGORIES)),
    st.tuples(st.just("advance"), st.integers(0, 4)),
    st.tuples(st.just("fold")),
)


def apply(session: Session, org: Organisation, step: tuple[object, ...]) -> None:
    """One write, in the transaction the caller opened; refused writes change nothing."""
    today = org.today[-1]

    def expires(offset: object) -> date | None:
        return None if offset is None else today + timedelta(days=int(str(offset)))

    match step:
        case ("set", int(person), int(skill), int(level), offset):
            proficiencies.upsert_proficiency(
                session,
                person_id=org.person_ids[person],
                skill_id=org.skill_ids[skill],
                data=ProficiencyInput(level=level, expires_on=expires(offset)),
                actor_id=None,
                if_match=None,
                unconditional=True,
            )
        case ("delete", int(person), int(skill)):
            proficiencies.delete_proficiency(
                session,
                person_id=org.person_ids[person],
                skill_id=org.skill_ids[skill],
                actor_id=org.person_ids[0],
                if_match="*",
            )
        case ("bulk", list(changes)):
            held = proficiencies.held_by(session, org.person_ids)
            planned: dict[tuple[int, int], dict[str, object]] = {}
            for person, skill, level, offset in changes:
                key = (org.person_ids[person], org.skill_ids[skill])
                if key in held:
                    planned[key] = proficiencies.proficiency_changes(
                        held[key], {"level": level, "expires_on": expires(offset)}
                    )
            proficiencies.write_changes(
                session,
                [(held[key], values) for key, values in planned.items() if values],
                actor_id=None,
            )
        case ("active", int(person), bool(active)):
            people.update_person(
                session, person_id=org.person_ids[person], if_match="*", active=active
            )
        case ("category", int(skill), str(category)):
            skills.update_skill(
                session, skill_id=org.skill_ids[skill], if_match="*", category=category
            )
        case ("advance", int(days)):
            org.today.append(today + timedelta(days=days))
        case ("fold",):
            summaries.fold(session, today=today)


@pytest.fixture
def organisation(app: Flask) -> Organisation:
    return small_organisation(app)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(steps, min_size=1, max_size=12))
def test_totals_equal_a_recount_after_any_sequence_of_changes(
    app: Flask, organisation: Organisation, sequence: Sequence[tuple[object, ...]]
) -> None:
    # The database lives across examples: each one continues from the last, and days
    # only ever pass, as on a real clock.
    with app.app_context():
        session = db.session
        for step in sequence:
            try:
                with session.begin():
                    apply(session, organisation, step)
            except DomainError:
                pass
            assert_totals_match_recount(session, organisation.today[-1])
            session.rollback()
        for later in range(8):
            assert_totals_match_recount(session, organisation.today[-1] + timedelta(days=later))
            session.rollback()


WRITERS = 8
WRITES_EACH = 12


def test_totals_equal_a_recount_after_concurrent_writers(
    app: Flask, organisation: Organisation, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    sessions = database_sessions(app)
    errors: list[BaseException] = []
    written: list[int] = []

    def writer(number: int) -> None:
        # Every writer writes the same two skills, half of them for the same person,
        # and one in four also switches a person off and on again.
        for index in range(WRITES_EACH):
            person = (number + index) % PEOPLE if number % 2 else 0
            step: tuple[object, ...] = (
                ("active", person, index % 2 == 1)
                if number % 4 == 3
                else ("set", person, index % 2, 1 + (number + index) % 5, (index % 3) - 1)
            )
            try:
                with app.app_context(), sessions() as session, session.begin():
                    apply(session, organisation, step)
                written.append(number)
            except (DBAPIError, DomainError, StaleDataError):
                pass  # a refused write (conflict, deadlock) leaves the totals as they were
            except BaseException as error:  # reported by the test thread
                errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert len(written) >= WRITERS  # many writes for one person conflict (412); not all
    with app.app_context():
        for later in range(4):
            assert_totals_match_recount(db.session, START + timedelta(days=later))


def test_charts_show_the_numbers_the_recount_gives_on_demo_data(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            demo_data.generate_demo_organisation(session, people=120, now=None)
        today = date.today()
        categories = skills.categories(session)
        for offset in (0, 1, 30, 400, 800):
            day = today + timedelta(days=offset)
            for category in (None, *categories[:3]):
                scope = analytics.Scope(today=day, category=category)
                levels = analytics.skill_levels(session, scope, limit=1000)
                assert {
                    (item.skill, level, count)
                    for item in levels
                    for level, count in enumerate(item.per_level, start=1)
                    if count
                } == recount_levels(session, day, category)
                coverage = analytics.category_coverage(session, scope)
                assert [(item.category, item.people) for item in coverage] == (
                    recount_coverage(session, day, category)
                )


def test_the_fold_command_empties_the_logs_and_keeps_the_totals(
    app: Flask, organisation: Organisation, runner: FlaskCliRunner
) -> None:
    today = date.today()
    with app.app_context():
        with db.session.begin():
            for person in range(PEOPLE):
                apply(db.session, organisation, ("set", person, person % SKILLS, 4, 2))
        result = runner.invoke(cli, ["dashboard", "fold"])
        assert result.exit_code == 0, result.output
        assert re.fullmatch(r"folded [1-9]\d* delta rows\n", result.output)
        assert db.session.scalar(select(func.count()).select_from(SkillLevelDelta)) == 0
        assert db.session.scalar(select(func.count()).select_from(CategoryCoverageDelta)) == 0
        assert_totals_match_recount(db.session, today)


def test_the_recount_command_repairs_totals_after_a_change_behind_the_service(
    app: Flask, organisation: Organisation, runner: FlaskCliRunner
) -> None:
    today = date.today()
    with app.app_context():
        with db.session.begin():
            db.session.execute(
                insert(Proficiency).values(
                    person_id=organisation.person_ids[0],
                    skill_id=organisation.skill_ids[0],
                    level=5,
                )
            )
        assert recount_levels(db.session, today, None) != set(
            summaries.skill_levels(db.session, today=today, category=None)
        )
        db.session.rollback()
        result = runner.invoke(cli, ["dashboard", "recount"])
        assert result.exit_code == 0, result.output
        assert_totals_match_recount(db.session, today)


def test_the_migration_counts_the_proficiencies_already_stored(app: Flask) -> None:
    engine = db.engine(app)
    command.downgrade(migrations.alembic_config(engine), "0003")
    try:
        # A session of its own: the app's sessions also bump data versions, whose
        # table comes in a later revision than the one this data is written at.
        with Session(engine) as session, session.begin():
            staff = [
                people.new_person(email=f"m{n}@example.com", name=f"M {n}", role="member")
                for n in range(6)
            ]
            staff[5].active = False
            catalogue = [
                Skill(name=f"S {n}", name_key=f"s {n}", category=CATEGORIES[n % 2])
                for n in range(3)
            ]
            session.add_all([*staff, *catalogue])
            session.flush()
            session.add_all(
                Proficiency(
                    person_id=person.id,
                    skill_id=skill.id,
                    level=1 + (index + number) % 5,
                    expires_on=START + timedelta(days=(index * 3 + number) % 7)
                    if (index + number) % 3
                    else None,
                )
                for index, person in enumerate(staff)
                for number, skill in enumerate(catalogue)
            )
    finally:
        migrations.upgrade(engine)
    with app.app_context():
        for later in range(-1, 9):
            assert_totals_match_recount(db.session, START + timedelta(days=later))
