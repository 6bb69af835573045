"""The demo organisation: reproducible, only into an empty catalogue, and valid data."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from skills_service import policy
from skills_service.errors import Conflict, InvalidInput
from skills_service.extensions import db
from skills_service.models import (
    Person,
    Proficiency,
    ProficiencyChange,
    Skill,
    Team,
    TeamMember,
    TeamTarget,
)
from skills_service.policy import Action, PersonTarget, Principal, Role
from skills_service.services import people, proficiencies, search, skills, teams
from skills_service.services.common import clean_text, name_key
from skills_service.services.demo_data import (
    ADMIN_FOCUS,
    CATALOGUE,
    CATEGORY_EVIDENCE,
    CERTIFICATIONS,
    DEPRECATED,
    MANAGER_FOCUS,
    MAX_PEOPLE,
    POPULAR,
    TEAMS,
    DemoSummary,
    generate_demo_organisation,
)
from skills_service.services.search import SkillCondition

PEOPLE = 40
NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
DEMO_EMAIL = re.compile(r"^[a-z]+\.[a-z]+\d+@example\.org$")

Fingerprint = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def summary(app: Flask) -> DemoSummary:
    """The demo organisation, committed, for the tests that only read it."""
    with app.app_context():
        session = db.session
        with session.begin():
            return generate_demo_organisation(session, people=PEOPLE, now=NOW)


@pytest.fixture
def session(app: Flask, summary: DemoSummary) -> Iterator[Session]:
    with app.app_context():
        yield db.session


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def fingerprint(session: Session) -> Fingerprint:
    """Everything generated, by name rather than by id (ids depend on the database)."""
    email = {row.id: row.email for row in session.execute(select(Person.id, Person.email))}
    skill = {row.id: row.name for row in session.execute(select(Skill.id, Skill.name))}
    team = {row.id: row.name for row in session.execute(select(Team.id, Team.name))}
    return {
        "skills": sorted(
            (s.name, s.category, s.description, s.deprecated, sorted(a.alias for a in s.aliases))
            for s in session.scalars(select(Skill))
        ),
        "people": sorted(
            (p.email, p.name, p.role, p.active, p.created_at)
            for p in session.scalars(select(Person))
        ),
        "teams": sorted((t.name, t.description) for t in session.scalars(select(Team))),
        "members": sorted(
            (team[m.team_id], email[m.person_id], m.is_manager)
            for m in session.scalars(select(TeamMember))
        ),
        "targets": sorted(
            (team[t.team_id], skill[t.skill_id], t.level)
            for t in session.scalars(select(TeamTarget))
        ),
        "proficiencies": sorted(
            (
                email[p.person_id],
                skill[p.skill_id],
                p.level,
                p.interested,
                p.note,
                p.expires_on,
                email[p.verified_by_id] if p.verified_by_id is not None else None,
                p.verified_at,
            )
            for p in session.scalars(select(Proficiency))
        ),
        "history": [
            (email[c.person_id], skill[c.skill_id], c.action, c.level, c.changed_at)
            for c in session.scalars(select(ProficiencyChange).order_by(ProficiencyChange.id))
        ],
    }


def generated(app: Flask, *, seed: int) -> Fingerprint:
    """Generate, fingerprint, roll back: the next run starts from an empty database."""
    with app.app_context():
        session = db.session
        with session.begin() as transaction:
            generate_demo_organisation(session, people=PEOPLE, seed=seed, now=NOW)
            found = fingerprint(session)
            transaction.rollback()
    return found


def test_demo_data_is_deterministic_for_a_seed(app: Flask) -> None:
    first = generated(app, seed=7)
    assert first["proficiencies"] and first["history"]
    assert generated(app, seed=7) == first


def test_another_seed_gives_other_people_from_the_same_catalogue(app: Flask) -> None:
    first, second = generated(app, seed=7), generated(app, seed=8)
    assert first["skills"] == second["skills"]
    assert first["people"] != second["people"]
    assert first["proficiencies"] != second["proficiencies"]


def test_demo_data_refuses_a_non_empty_catalogue(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skills.create_skill(session, name="COBOL", category="Languages")
        with (
            pytest.raises(Conflict, match="only loaded into an empty database"),
            session.begin(),
        ):
            generate_demo_organisation(session, people=PEOPLE, now=NOW)
        assert count(session, Skill) == 1
        assert count(session, Person) == 0


@pytest.mark.parametrize("size", [0, MAX_PEOPLE + 1])
def test_an_out_of_range_number_of_people_is_refused(app: Flask, size: int) -> None:
    with app.app_context():
        session = db.session
        with pytest.raises(InvalidInput) as raised, session.begin():
            generate_demo_organisation(session, people=size, now=NOW)
        assert "people" in raised.value.errors
        assert count(session, Skill) == 0


def test_the_caller_owns_the_transaction(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with session.begin() as transaction:
            generate_demo_organisation(session, people=PEOPLE, now=NOW)
            transaction.rollback()
        for model in (Skill, Person, Team, Proficiency, ProficiencyChange):
            assert count(session, model) == 0


def test_progress_counts_people_done_up_to_the_total(app: Flask) -> None:
    reported: list[int] = []
    with app.app_context():
        session = db.session
        with session.begin():
            generate_demo_organisation(session, people=PEOPLE, progress=reported.append)
    assert reported
    assert reported == sorted(set(reported))
    assert reported[-1] == PEOPLE


def test_existing_people_are_left_alone_and_in_no_team(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            admin = people.create_person(
                session, email="admin@example.org", name="Administrator", role="admin"
            )
        with session.begin():
            summary = generate_demo_organisation(session, people=PEOPLE, now=NOW)
        assert summary.people == PEOPLE
        assert count(session, Person) == PEOPLE + 1
        assert people.get_person(session, admin.id).role == "admin"
        assert people.team_ids_of(session, admin.id) == []


def test_a_demo_address_already_taken_is_a_conflict(app: Flask) -> None:
    taken = generated(app, seed=7)["people"][0][0]
    with app.app_context():
        session = db.session
        with session.begin():
            people.create_person(session, email=taken, name="Already Here", role="member")
        with pytest.raises(Conflict, match="already exists"), session.begin():
            generate_demo_organisation(session, people=PEOPLE, now=NOW)
        assert count(session, Skill) == 0


def test_summary_counts_what_was_written(session: Session, summary: DemoSummary) -> None:
    assert summary.people == PEOPLE == count(session, Person)
    assert summary.skills == count(session, Skill)
    assert summary.teams == count(session, Team)
    assert summary.proficiencies == count(session, Proficiency)
    assert count(session, ProficiencyChange) > summary.proficiencies


def test_the_catalogue_has_real_skills_in_many_categories(session: Session) -> None:
    catalogue = session.scalars(select(Skill)).all()
    assert len(catalogue) >= 140
    assert len({skill.category for skill in catalogue}) >= 10
    names = {skill.name for skill in catalogue}
    assert {"C", "Go", "SQL", "Python", "Rust", "Kubernetes"} <= names
    assert all(0 < len(skill.description) <= skills.DESCRIPTION_MAX for skill in catalogue)
    found = skills.skill_ids_named(session, ["golang", "K8S", "postgres"])
    assert {term: skills.get_skill(session, skill_id).name for term, skill_id in found.items()} == {
        "golang": "Go",
        "K8S": "Kubernetes",
        "postgres": "PostgreSQL",
    }


def test_names_are_stored_as_the_services_store_them(session: Session) -> None:
    for skill in session.scalars(select(Skill)):
        assert skill.name == clean_text(skill.name, field="name", max_length=skills.NAME_MAX)
        assert skill.name_key == name_key(skill.name)
        assert all(alias.alias_key == name_key(alias.alias) for alias in skill.aliases)
    for person in session.scalars(select(Person)):
        assert person.name == clean_text(person.name, field="name", max_length=people.NAME_MAX)
        assert person.name_key == name_key(person.name)
        assert person.email == people.normalise_email(person.email)
        assert DEMO_EMAIL.match(person.email), person.email
        assert person.password_hash is None


def test_roles_are_mostly_members_with_some_managers_viewers_and_admins(
    session: Session, summary: DemoSummary
) -> None:
    roles = Counter(session.scalars(select(Person.role)))
    assert 1 <= roles["admin"] <= 2
    assert roles["viewer"] >= 1
    assert roles["manager"] >= summary.teams
    assert roles["member"] > PEOPLE / 2


def test_every_team_has_a_manager_and_targets(session: Session) -> None:
    role = {person_id: name for person_id, name in session.execute(select(Person.id, Person.role))}
    for team in session.scalars(select(Team)):
        rows = teams.members(session, team.id)
        managers = [row.person for row in rows if row.is_manager]
        assert 1 <= len(managers) <= 2, team.name
        assert all(role[manager.id] == "manager" for manager in managers)
        targets = teams.targets(session, team.id)
        assert 5 <= len(targets) <= 10, team.name
        assert not any(skill.deprecated for _, skill in targets)


def test_teams_hold_active_members_and_managers_only(session: Session) -> None:
    in_teams = set(session.scalars(select(TeamMember.person_id)))
    for person in session.scalars(select(Person)):
        belongs = person.role in ("member", "manager") and person.active
        assert (person.id in in_teams) == belongs, (person.email, person.role, person.active)


def test_everyone_but_viewers_holds_five_to_twenty_proficiencies(session: Session) -> None:
    statement = select(Proficiency.person_id, func.count()).group_by(Proficiency.person_id)
    held = {person_id: number for person_id, number in session.execute(statement)}
    for person in session.scalars(select(Person)):
        if person.role == "viewer":
            assert person.id not in held
        else:
            assert 5 <= held[person.id] <= 20, person.email


def test_proficiencies_vary_in_level_interest_and_notes(session: Session) -> None:
    held = session.scalars(select(Proficiency)).all()
    levels = Counter(proficiency.level for proficiency in held)
    assert set(levels) == {1, 2, 3, 4, 5}
    assert levels[2] + levels[3] > levels[1] + levels[5]
    assert 0 < sum(proficiency.interested for proficiency in held) < len(held)
    assert 0 < sum(bool(proficiency.note) for proficiency in held) < len(held)


def test_verifications_are_by_a_manager_of_the_persons_team(session: Session) -> None:
    role = {person_id: name for person_id, name in session.execute(select(Person.id, Person.role))}
    teams_of: dict[int, set[int]] = defaultdict(set)
    managed_by: dict[int, set[int]] = defaultdict(set)
    for membership in session.scalars(select(TeamMember)):
        teams_of[membership.person_id].add(membership.team_id)
        if membership.is_manager:
            managed_by[membership.person_id].add(membership.team_id)
    held = session.scalars(select(Proficiency)).all()
    verified = [proficiency for proficiency in held if proficiency.verified_by_id is not None]
    assert 0.15 * len(held) <= len(verified) <= 0.45 * len(held)
    for proficiency in verified:
        assert proficiency.verified_by_id is not None
        assert proficiency.verified_at is not None and proficiency.verified_at <= NOW
        verifier = Principal(
            person_id=proficiency.verified_by_id,
            role=Role(role[proficiency.verified_by_id]),
            managed_team_ids=frozenset(managed_by[proficiency.verified_by_id]),
        )
        subject = PersonTarget(proficiency.person_id, frozenset(teams_of[proficiency.person_id]))
        assert policy.allows(verifier, Action.VERIFY_PROFICIENCY, subject)


def test_history_ends_in_each_proficiencys_current_state(session: Session) -> None:
    history: dict[tuple[int, int], list[ProficiencyChange]] = defaultdict(list)
    for change in session.scalars(select(ProficiencyChange).order_by(ProficiencyChange.id)):
        history[(change.person_id, change.skill_id)].append(change)
    held = session.scalars(select(Proficiency)).all()
    assert len(history) == len(held)
    grew = 0
    for proficiency in held:
        changes = history[(proficiency.person_id, proficiency.skill_id)]
        last = changes[-1]
        assert last.action == ("verify" if proficiency.verified_by_id else "set")
        current = (proficiency.level, proficiency.interested, proficiency.note)
        assert (last.level, last.interested, last.note) == current
        assert (last.expires_on, last.verified_by_id) == (
            proficiency.expires_on,
            proficiency.verified_by_id,
        )
        times = [change.changed_at for change in changes]
        assert times == sorted(times) and times[-1] <= NOW
        levels = [change.level or 0 for change in changes if change.action == "set"]
        assert levels == sorted(levels)
        grew += len(levels) > 1
    assert grew > len(held) / 5


def test_certifications_include_expired_and_expiring_soon(session: Session) -> None:
    certifiable = {
        skill.id for skill in session.scalars(select(Skill)) if skill.name in CERTIFICATIONS
    }
    held = session.scalars(select(Proficiency)).all()
    certified = [proficiency for proficiency in held if proficiency.expires_on is not None]
    assert {proficiency.skill_id for proficiency in certified} <= certifiable
    assert any(proficiencies.is_expired(proficiency, TODAY) for proficiency in certified)
    everyone = list(session.scalars(select(Person.id)))
    assert proficiencies.expiring_soon(session, everyone, TODAY)
    horizon = TODAY + timedelta(days=proficiencies.EXPIRY_WARNING_DAYS)
    assert any((proficiency.expires_on or TODAY) > horizon for proficiency in certified)


def test_gap_analysis_and_search_work_on_the_demo_data(session: Session) -> None:
    for team in session.scalars(select(Team)):
        gaps = teams.gaps(session, team_id=team.id, today=TODAY)
        assert len(gaps) == len(teams.targets(session, team.id))
        assert all(gap.members == len(teams.members(session, team.id)) for gap in gaps)
    python = skills.get_skill(session, skills.skill_ids_named(session, ["Python"])["Python"])
    found = search.people_matching(
        session,
        conditions=[SkillCondition(skill_id=python.id, min_level=1)],
        text=None,
        page=1,
        limit=50,
        today=TODAY,
    )
    assert found.total > 0


def test_the_tables_name_only_real_categories_and_skills() -> None:
    names = {seed.name for seeds in CATALOGUE.values() for seed in seeds}
    assert set(CATEGORY_EVIDENCE) == set(CATALOGUE)
    for team in TEAMS:
        assert set(team.focus) <= set(CATALOGUE), team.name
    assert set(MANAGER_FOCUS) | set(ADMIN_FOCUS) <= set(CATALOGUE)
    assert set(CERTIFICATIONS) | POPULAR | DEPRECATED <= names
