"""People search: everyone who meets every ``skill >= level`` condition, best first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from skills_service.errors import InvalidInput
from skills_service.models import Person, PersonSearch, Proficiency
from skills_service.services import search_index
from skills_service.services.common import (
    Page,
    ascii_int,
    bounded_total,
    count_bound,
    name_key,
    page_rows,
)
from skills_service.services.skills import names_of, skill_ids_named

MAX_CONDITIONS = 10


@dataclass(frozen=True)
class SkillCondition:
    skill_id: int
    min_level: int
    known: bool = False
    """Whether the skill was found (by its name): an id alone is checked if nothing matches."""


@dataclass(frozen=True, slots=True)
class PersonEntry:
    """A person as a search lists them: plain columns, without the ORM's bookkeeping."""

    id: int
    name: str
    email: str
    role: str
    active: bool
    version: int


LISTED = (Person.id, Person.name, Person.email, Person.role, Person.active, Person.version)
"""The columns of a ``PersonEntry``, in its order."""


def _entry(row: Row[Any]) -> PersonEntry:
    return PersonEntry(*row[: len(LISTED)])


@dataclass(frozen=True)
class PersonMatch:
    person: PersonEntry
    score: int


def parse_conditions(session: Session, raw: Sequence[str]) -> list[SkillCondition]:
    """Parse ``NAME_OR_ID:MIN_LEVEL`` terms; the level may be omitted (means 1).

    Names and aliases are looked up; an id is not: a match proves its skill exists,
    and ``people_matching`` checks the ids of a search that matched nobody.
    """
    if len(raw) > MAX_CONDITIONS:
        raise InvalidInput(
            "Too many skill conditions.", {"skill": [f"At most {MAX_CONDITIONS} conditions."]}
        )
    terms: list[tuple[str, str, int]] = []
    for term in raw:
        name, separator, level_text = term.rpartition(":")
        if not separator:
            name, level_text = term, "1"
        level = ascii_int(level_text, maximum=5)
        if level is None or level < 1:
            raise InvalidInput(
                f"Bad skill condition {term!r}.",
                {"skill": ["Use NAME_OR_ID:LEVEL with a level from 1 to 5."]},
            )
        if not name.strip():
            raise InvalidInput(f"Bad skill condition {term!r}.", {"skill": ["Name a skill."]})
        terms.append((term, name, level))
    named = [name for _, name, _ in terms if not ascii_int(name)]
    skill_ids = skill_ids_named(session, named) if named else {}
    conditions: dict[int, SkillCondition] = {}
    for term, name, level in terms:
        given_id = ascii_int(name)
        skill_id = given_id or skill_ids.get(name)
        if skill_id is None:
            raise InvalidInput(
                f"Unknown skill in {term!r}.", {"skill": [f"No skill is named {name!r}."]}
            )
        previous = conditions.get(skill_id)
        if previous is None or previous.min_level < level:
            conditions[skill_id] = SkillCondition(
                skill_id=skill_id, min_level=level, known=not given_id
            )
    return list(conditions.values())


def counts_on(expires_on: SQLColumnExpression[date | None], today: date) -> ColumnElement[bool]:
    """An expired certification does not count (``expires_on`` is a proficiency's)."""
    return or_(expires_on.is_(None), expires_on >= today)


def holders_by_level(session: Session, *, skill_id: int, today: date) -> dict[int, int]:
    """How many active people hold the skill at each level 1-5 (expired ones left out)."""
    rows = session.execute(
        select(Proficiency.level, func.count())
        .join(Person, Person.id == Proficiency.person_id)
        .where(
            Proficiency.skill_id == skill_id,
            Person.active,
            counts_on(Proficiency.expires_on, today),
        )
        .group_by(Proficiency.level)
    ).all()
    counts = dict.fromkeys(range(1, 6), 0)
    counts.update({level: count for level, count in rows})
    return counts


@dataclass(frozen=True)
class _Query:
    conditions: Sequence[SkillCondition]
    named: str
    page: int
    limit: int
    today: date
    include_expired: bool
    include_inactive: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def people_matching(
    session: Session,
    *,
    conditions: Sequence[SkillCondition],
    text: str | None,
    page: int,
    limit: int,
    today: date,
    include_expired: bool = False,
    include_inactive: bool = False,
) -> Page[PersonMatch]:
    """People meeting every condition whose name contains ``text``, best first.

    Ordered by score (the sum of the levels held in the conditions' skills), then by
    how many of those are verified, then by name and id. The total is exact up to
    ``TOTAL_BOUND`` matches and a lower bound above it (``Page.total_is_exact``).
    PostgreSQL answers from the inverted index (``search_index``), SQLite by joining
    one ``proficiency`` range per condition; both give the same page.
    """
    query = _Query(
        conditions=conditions,
        named=text.strip() if text else "",
        page=page,
        limit=limit,
        today=today,
        include_expired=include_expired,
        include_inactive=include_inactive,
    )
    if not conditions:
        return _everyone(session, query)
    found = (_from_index if search_index.is_indexed(session) else _by_joins)(session, query)
    if not found.items:
        _require_skills(session, conditions)
    return found


def _require_skills(session: Session, conditions: Sequence[SkillCondition]) -> None:
    """Refuse a search naming a skill id that does not exist (it matched nobody)."""
    wanted = {condition.skill_id for condition in conditions if not condition.known}
    if not wanted:
        return
    unknown = sorted(wanted - set(names_of(session, sorted(wanted))))
    if unknown:
        raise InvalidInput(
            f"Unknown skill {unknown[0]}.", {"skill": [f"No skill has the id {unknown[0]}."]}
        )


def _named(column: SQLColumnExpression[str], named: str) -> ColumnElement[bool]:
    return column.contains(name_key(named), autoescape=True)


def _page(query: _Query, items: list[PersonMatch], counted: int) -> Page[PersonMatch]:
    total, exact = bounded_total(counted, page=query.page, limit=query.limit)
    return Page(items=items, total=total, page=query.page, limit=query.limit, total_is_exact=exact)


def _everyone(session: Session, query: _Query) -> Page[PersonMatch]:
    """No skill condition: everyone (by name), counted only up to the bound.

    The page is read in name order from the name index and the count stops one past
    the bound, so listing 100,000 people costs as little as listing 100.
    """
    statement = select(*LISTED)
    if query.named:
        statement = statement.where(_named(Person.name_key, query.named))
    if not query.include_inactive:
        statement = statement.where(Person.active.is_(True))
    counting = (
        statement.with_only_columns(literal(1), maintain_column_froms=True)
        .limit(count_bound(query.page, query.limit) + 1)
        .subquery()
    )
    counted = select(func.count()).select_from(counting)
    rows = session.execute(
        statement.add_columns(counted.scalar_subquery().label("total"))
        .order_by(Person.name_key, Person.id)
        .offset(query.offset)
        .limit(query.limit)
    ).all()
    items = [PersonMatch(person=_entry(row), score=0) for row in rows]
    if rows:
        return _page(query, items, int(rows[0].total))
    return _page(query, items, 0 if query.page == 1 else session.scalar(counted) or 0)


def _from_index(session: Session, query: _Query) -> Page[PersonMatch]:
    """One GIN lookup for every condition's token; ``person`` is read for the page only."""
    found = search_index.matching(
        [(condition.skill_id, condition.min_level) for condition in query.conditions],
        today=query.today,
        include_expired=query.include_expired,
        include_inactive=query.include_inactive,
    )
    parameters = found.parameters | {"offset": query.offset, "limit": query.limit}
    if query.named:
        matches = found.statement.where(_named(PersonSearch.name_key, query.named))
        statement = _index_page(matches, found.rank)
    else:
        matches = found.statement
        statement = _unnamed_index_page(
            len(query.conditions), query.include_expired, query.include_inactive
        )
    rows = session.execute(statement, parameters).all()
    items = [
        PersonMatch(person=_entry(row), score=int(row.rank) // search_index.LEVEL) for row in rows
    ]
    if rows:
        return _page(query, items, int(rows[0].total))
    if query.page == 1:
        return _page(query, items, 0)
    counted = session.scalar(select(func.count()).select_from(matches.subquery()), parameters)
    return _page(query, items, counted or 0)


@lru_cache(maxsize=64)
def _unnamed_index_page(
    conditions: int, include_expired: bool, include_inactive: bool
) -> Select[*tuple[Any, ...]]:
    """Built once per shape: a search without a name is the common one."""
    return _index_page(*search_index.shape(conditions, include_expired, include_inactive))


def _index_page(
    matches: Select[int, str, int], rank: ColumnElement[int]
) -> Select[*tuple[Any, ...]]:
    """The page of ``matches`` by rank, with the people's columns and the count of all."""
    chosen = (
        matches.add_columns(func.count().over().label("total"))
        .order_by(rank.desc(), PersonSearch.name_key, PersonSearch.person_id)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )
    return (
        select(*LISTED, chosen.c.rank, chosen.c.total)
        .join(chosen, chosen.c.person_id == Person.id)
        .order_by(chosen.c.rank.desc(), chosen.c.name_key, chosen.c.person_id)
    )


def _by_joins(session: Session, query: _Query) -> Page[PersonMatch]:
    """One join of a ``proficiency`` range per condition, the plan SQLite keeps."""
    score: ColumnElement[int] = literal(0)
    verified: ColumnElement[int] = literal(0)
    statement = select(*LISTED)
    # SQLite joins in the order written and has no statistics to reorder by, so the
    # likely narrowest condition (the highest level) goes first.
    # Each condition joins a Core alias of the table: the same SQL as an ORM alias,
    # without building an aliased mapper per condition and request.
    for condition in sorted(query.conditions, key=lambda condition: -condition.min_level):
        held = Proficiency.__table__.alias()
        joined = [
            held.c.person_id == Person.id,
            held.c.skill_id == condition.skill_id,
            held.c.level >= condition.min_level,
        ]
        if not query.include_expired:
            joined.append(counts_on(held.c.expires_on, query.today))
        statement = statement.join(held, and_(*joined))
        score = score + held.c.level
        verified = verified + case((held.c.verified_at.is_not(None), 1), else_=0)
    if query.named:
        statement = statement.where(_named(Person.name_key, query.named))
    if not query.include_inactive:
        statement = statement.where(Person.active.is_(True))
    rows, counted = page_rows(
        session,
        statement.add_columns(score.label("score")).order_by(
            score.desc(), verified.desc(), Person.name_key, Person.id
        ),
        page=query.page,
        limit=query.limit,
    )
    items = [PersonMatch(person=_entry(row), score=int(row.score)) for row in rows]
    return _page(query, items, counted)
