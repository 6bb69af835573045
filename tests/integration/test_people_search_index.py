"""People search gives the same page, in the same order and with the same total, on every
backend and plan; on PostgreSQL its index follows every write in the same transaction.

The property tests build random organisations through the services (people active or
not, proficiencies with levels, expiry days around "today", verifications, deletions,
renames and deactivations), then compare ``people_matching`` with a brute-force
reading of the same rows in Python and with the joined query it replaced, for random
conditions, name text, pages, days and flags.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.extensions import db
from skills_service.models import Person, PersonSearch, Proficiency
from skills_service.services import (
    common,
    matrix_import,
    people,
    proficiencies,
    search,
    search_index,
    skills,
)
from skills_service.services.common import bounded_total, etag_for, name_key
from skills_service.services.proficiencies import ProficiencyInput
from skills_service.services.search import SkillCondition
from skills_service.web.pages import PAGE_SIZE
from tests.conftest import POSTGRES_URL, Actor, MakeActor
from tests.integration.browser import page_text, signed_in

TODAY = date(2026, 11, 23)
SKILLS = 3
SMALL_BOUND = 5
"""``TOTAL_BOUND`` for these tests, so that a handful of people goes past it."""
EXAMPLES = 40
EXAMPLE_RUNS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_numbers = itertools.count()

names = st.text("abc", min_size=1, max_size=3)
holdings = st.tuples(
    st.integers(0, 5),  # person
    st.integers(0, SKILLS - 1),  # skill
    st.integers(1, 5),  # level
    st.none() | st.integers(-2, 2),  # expiry, in days from TODAY
    st.booleans(),  # verified
)
changes = st.tuples(
    st.integers(0, 7), st.sampled_from(["delete", "unverify", "rename", "deactivate"]), names
)
organisations = st.tuples(
    st.lists(st.tuples(names, st.booleans()), min_size=1, max_size=6),
    st.lists(holdings, min_size=4, max_size=30),
    st.lists(changes, max_size=6),
)
searches = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(0, SKILLS - 1), st.integers(1, 4)), min_size=1, max_size=3),
        st.none() | st.sampled_from(["a", "b", "ab", "C"]),
        st.integers(1, 3),  # page
        st.integers(1, 4),  # limit
        st.integers(-3, 3),  # today, in days from TODAY
        st.booleans(),  # include_expired
        st.booleans(),  # include_inactive
    ),
    min_size=1,
    max_size=6,
)


@dataclass(frozen=True)
class Search:
    conditions: list[SkillCondition]
    text: str | None
    page: int
    limit: int
    today: date
    include_expired: bool
    include_inactive: bool

    def run(self, session: Session) -> Any:
        return search.people_matching(
            session,
            conditions=self.conditions,
            text=self.text,
            page=self.page,
            limit=self.limit,
            today=self.today,
            include_expired=self.include_expired,
            include_inactive=self.include_inactive,
        )


@pytest.fixture(autouse=True)
def _small_total_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "TOTAL_BOUND", SMALL_BOUND)


@pytest.fixture
def verifier(make_actor: MakeActor) -> Actor:
    return make_actor("manager")


Build = Callable[[Any], list[int]]


@pytest.fixture
def build(app: Flask, verifier: Actor) -> Build:
    """Write an organisation through the services; returns its skill ids."""

    def write(organisation: Any) -> list[int]:
        staff, held, later = organisation
        number = next(_numbers)
        session = db.session
        with session.begin():
            skill_ids = [
                skills.create_skill(session, name=f"Skill {number}.{index}", category="T").id
                for index in range(SKILLS)
            ]
            person_ids = [
                people.create_person(
                    session,
                    email=f"p{number}.{index}@example.org",
                    name=name,
                    role="member",
                    active=active,
                ).id
                for index, (name, active) in enumerate(staff)
            ]
            for person, skill, level, expiry, verified in held:
                person_id, skill_id = person_ids[person % len(person_ids)], skill_ids[skill]
                proficiencies.upsert_proficiency(
                    session,
                    person_id=person_id,
                    skill_id=skill_id,
                    data=ProficiencyInput(
                        level=level,
                        expires_on=None if expiry is None else TODAY + timedelta(days=expiry),
                    ),
                    actor_id=verifier.person_id,
                    if_match=None,
                    unconditional=True,
                )
                if verified:
                    proficiencies.verify_proficiency(
                        session,
                        person_id=person_id,
                        skill_id=skill_id,
                        verifier_id=verifier.person_id,
                        if_match=None,
                    )
            for person, change, name in later:
                _change(session, person_ids[person % len(person_ids)], change, name)
        return skill_ids

    return write


def _change(session: Session, person_id: int, change: str, name: str) -> None:
    held = session.scalars(select(Proficiency).where(Proficiency.person_id == person_id)).first()
    if change in ("rename", "deactivate"):
        person = session.get_one(Person, person_id)
        people.update_person(
            session,
            person_id=person_id,
            if_match=etag_for(person.version),
            name=name if change == "rename" else None,
            active=False if change == "deactivate" else None,
        )
    elif held is not None and change == "delete":
        proficiencies.delete_proficiency(
            session,
            person_id=person_id,
            skill_id=held.skill_id,
            actor_id=person_id,
            if_match=etag_for(held.version),
        )
    elif held is not None:
        proficiencies.unverify_proficiency(
            session,
            person_id=person_id,
            skill_id=held.skill_id,
            actor_id=person_id,
            if_match=etag_for(held.version),
        )


def searches_over(skill_ids: list[int], drawn: list[Any]) -> Iterator[Search]:
    for conditions, text, page, limit, offset, include_expired, include_inactive in drawn:
        yield Search(
            conditions=[
                SkillCondition(skill_id=skill_ids[skill], min_level=level)
                for skill, level in conditions
            ],
            text=text,
            page=page,
            limit=limit,
            today=TODAY + timedelta(days=offset),
            include_expired=include_expired,
            include_inactive=include_inactive,
        )


def brute_force(session: Session, wanted: Search) -> tuple[list[tuple[int, int]], int, bool]:
    """The page, total and exactness read off every row in Python."""
    held = {(row.person_id, row.skill_id): row for row in session.scalars(select(Proficiency))}
    ranked = []
    for person in session.scalars(select(Person)):
        if not (person.active or wanted.include_inactive):
            continue
        if wanted.text and name_key(wanted.text) not in person.name_key:
            continue
        found = [held.get((person.id, condition.skill_id)) for condition in wanted.conditions]
        if all(
            row is not None
            and row.level >= condition.min_level
            and (wanted.include_expired or row.expires_on is None or row.expires_on >= wanted.today)
            for row, condition in zip(found, wanted.conditions, strict=True)
        ):
            score = sum(row.level for row in found if row is not None)
            verified = sum(row.verified_at is not None for row in found if row is not None)
            ranked.append((-score, -verified, person.name_key, person.id, score))
    ranked.sort()
    start = (wanted.page - 1) * wanted.limit
    page = [(person_id, score) for *_, person_id, score in ranked[start : start + wanted.limit]]
    total, exact = bounded_total(len(ranked), page=wanted.page, limit=wanted.limit)
    return page, total, exact


def answer(page: Any) -> tuple[list[tuple[int, int]], int, bool]:
    return [(match.person.id, match.score) for match in page.items], page.total, page.total_is_exact


def stored_rows(session: Session) -> dict[int, tuple[Any, ...]]:
    return {
        row.person_id: (
            row.active,
            row.name_key,
            sorted(row.tokens),
            sorted(zip(row.skills, row.grades, strict=True)),
            row.expiry_first,
        )
        for row in session.scalars(select(PersonSearch))
    }


def derived_rows(session: Session) -> dict[int, tuple[Any, ...]]:
    """What each stored row should hold, derived again from ``person`` and ``proficiency``."""
    found: dict[int, tuple[Any, ...]] = {}
    for person_id, active, key, tokens, skill_ids, grades, expiry in session.execute(
        search_index.derived_rows().where(Person.id.in_(select(PersonSearch.person_id)))
    ):
        found[person_id] = (
            active,
            key,
            sorted(tokens),
            sorted(zip(skill_ids, grades, strict=True)),
            expiry,
        )
    return found


def test_search_gives_the_page_a_brute_force_reading_of_the_rows_gives(
    app: Flask, build: Build
) -> None:
    @given(organisation=organisations, drawn=searches)
    @EXAMPLE_RUNS
    def same_page(organisation: Any, drawn: list[Any]) -> None:
        with app.app_context():
            skill_ids = build(organisation)
            session = db.session
            for wanted in searches_over(skill_ids, drawn):
                assert answer(wanted.run(session)) == brute_force(session, wanted), wanted
            session.rollback()

    same_page()


postgresql_only = pytest.mark.skipif(not POSTGRES_URL, reason="the index is PostgreSQL's")


@postgresql_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_index_answers_as_the_joined_query_and_holds_what_the_rows_derive(
    app: Flask, build: Build
) -> None:
    @given(organisation=organisations, drawn=searches)
    @EXAMPLE_RUNS
    def same_answers(organisation: Any, drawn: list[Any]) -> None:
        with app.app_context():
            skill_ids = build(organisation)
            session = db.session
            assert stored_rows(session) == derived_rows(session)
            for wanted in searches_over(skill_ids, drawn):
                query = search._Query(
                    conditions=wanted.conditions,
                    named=wanted.text or "",
                    page=wanted.page,
                    limit=wanted.limit,
                    today=wanted.today,
                    include_expired=wanted.include_expired,
                    include_inactive=wanted.include_inactive,
                )
                assert answer(search._from_index(session, query)) == answer(
                    search._by_joins(session, query)
                ), wanted
            session.rollback()

    same_answers()


def _hold(session: Session, person_id: int, skill_id: int, expires_on: date | None) -> None:
    proficiencies.upsert_proficiency(
        session,
        person_id=person_id,
        skill_id=skill_id,
        data=ProficiencyInput(level=3, expires_on=expires_on),
        actor_id=person_id,
        if_match=None,
    )


def test_a_certification_counts_through_its_expiry_day_and_not_after(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            wanted = skills.create_skill(session, name="Wanted", category="T").id
            lapsed = skills.create_skill(session, name="Lapsed", category="T").id
            person = people.create_person(
                session, email="e@example.org", name="Expiring", role="member"
            ).id
            _hold(session, person, wanted, TODAY)
            _hold(session, person, lapsed, TODAY - timedelta(days=30))

        def found(today: date, *, include_expired: bool = False) -> list[int]:
            page = search.people_matching(
                session,
                conditions=[SkillCondition(skill_id=wanted, min_level=3)],
                text=None,
                page=1,
                limit=10,
                today=today,
                include_expired=include_expired,
            )
            return [match.person.id for match in page.items]

        assert found(TODAY) == [person]
        assert found(TODAY + timedelta(days=1)) == []
        assert found(TODAY + timedelta(days=1), include_expired=True) == [person]


def _common_skill(app: Flask, holders: int) -> int:
    """A skill ``holders`` new people hold."""
    with app.app_context():
        session = db.session
        with session.begin():
            skill_id = skills.create_skill(session, name="Common", category="T").id
            for number in range(holders):
                person_id = people.create_person(
                    session, email=f"c{number}@example.org", name=f"c{number}", role="member"
                ).id
                _hold(session, person_id, skill_id, None)
    return skill_id


def test_a_total_past_the_bound_is_a_lower_bound_with_a_next_page(app: Flask) -> None:
    skill_id = _common_skill(app, SMALL_BOUND + 3)
    with app.app_context():
        session = db.session

        def page(number: int) -> tuple[int, int, bool, bool]:
            found = search.people_matching(
                session,
                conditions=[SkillCondition(skill_id=skill_id, min_level=1)],
                text=None,
                page=number,
                limit=2,
                today=TODAY,
            )
            return len(found.items), found.total, found.total_is_exact, found.has_next

        assert page(1) == (2, SMALL_BOUND, False, True)
        assert page(3) == (2, SMALL_BOUND + 1, False, True)
        assert page(4) == (2, SMALL_BOUND + 3, True, False)


@postgresql_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_leaves_the_index_as_the_rows_derive_it(app: Flask, verifier: Actor) -> None:
    text = (
        "email,name,role,active,skill,level,expires_on\r\n"
        "ada@example.org,Ada,member,true,Go,4,2026-11-30\r\n"
        "ada@example.org,Ada,member,true,SQL,2,\r\n"
        "bob@example.org,Bob,member,false,Go,5,\r\n"
    )
    changed = text.replace("Go,4", "Go,1").replace("Ada,", "Ada B,")
    with app.app_context():
        session = db.session
        with session.begin():
            for name in ("Go", "SQL"):
                skills.create_skill(session, name=name, category="T")
        for csv_text in (text, changed):
            with session.begin():
                matrix_import.import_csv(
                    session, csv_text, actor_id=verifier.person_id, max_lines=100
                )
            assert stored_rows(session) == derived_rows(session)
            session.rollback()
        rows = session.scalars(select(PersonSearch).order_by(PersonSearch.person_id))
        assert [(row.name_key, row.active) for row in rows] == [("ada b", True), ("bob", False)]


@postgresql_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_writers_to_one_persons_skills_at_once_both_reach_the_index(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with session.begin():
            skill_ids = [
                skills.create_skill(session, name=f"Both {n}", category="T").id for n in (1, 2)
            ]
            person_id = people.create_person(
                session, email="both@example.org", name="Both", role="member"
            ).id
        engine = db.engine(app)
        flushed = threading.Barrier(2)

        def write(skill_id: int) -> None:
            with Session(engine) as own, own.begin():
                own.add(Proficiency(person_id=person_id, skill_id=skill_id, level=4))
                own.flush()
                flushed.wait(timeout=10)
                search_index.refresh(own, [person_id])

        writers = [threading.Thread(target=write, args=(skill_id,)) for skill_id in skill_ids]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=30)
        row = session.get_one(PersonSearch, person_id)
        assert sorted(row.skills) == sorted(skill_ids)


def test_the_api_says_whether_its_total_is_exact_or_a_lower_bound(
    app: Flask, client: FlaskClient, verifier: Actor
) -> None:
    skill_id = _common_skill(app, SMALL_BOUND + 1)

    def body(limit: int, page: int = 1) -> Any:
        response = client.get(
            f"/api/v1/people?skill={skill_id}:1&limit={limit}&page={page}",
            headers=verifier.headers,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    past = body(limit=2)
    assert (past["total"], past["total_relation"], len(past["items"])) == (SMALL_BOUND, "gte", 2)
    assert past["next"] is not None
    exact = body(limit=2, page=3)
    assert (exact["total"], exact["total_relation"], exact["next"]) == (SMALL_BOUND + 1, "eq", None)


def test_the_people_page_says_more_than_the_bound_when_it_stopped_counting(
    app: Flask, verifier: Actor
) -> None:
    skill_id = _common_skill(app, PAGE_SIZE + 1)
    browser = signed_in(app, verifier)
    text = page_text(browser, f"/people?skill={skill_id}&level=1")
    assert f"More than {PAGE_SIZE} matches" in text
    assert "Next" in text
