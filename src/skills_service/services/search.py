"""People search: everyone who meets every ``skill >= level`` condition, best first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from skills_service.errors import InvalidInput
from skills_service.models import Person, Proficiency
from skills_service.services.common import Page, ascii_int, name_key, page_rows
from skills_service.services.skills import skill_ids_named

MAX_CONDITIONS = 10


@dataclass(frozen=True)
class SkillCondition:
    skill_id: int
    min_level: int


@dataclass(frozen=True)
class PersonMatch:
    person: Person
    score: int


def parse_conditions(session: Session, raw: Sequence[str]) -> list[SkillCondition]:
    """Parse ``NAME_OR_ID:MIN_LEVEL`` terms; the level may be omitted (means 1)."""
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
    skill_ids = skill_ids_named(session, [name for _, name, _ in terms])
    conditions: dict[int, SkillCondition] = {}
    for term, name, level in terms:
        skill_id = skill_ids.get(name)
        if skill_id is None:
            raise InvalidInput(
                f"Unknown skill in {term!r}.", {"skill": [f"No skill is named {name!r}."]}
            )
        previous = conditions.get(skill_id)
        if previous is None or previous.min_level < level:
            conditions[skill_id] = SkillCondition(skill_id=skill_id, min_level=level)
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
    score: ColumnElement[int] = literal(0)
    verified: ColumnElement[int] = literal(0)
    statement = select(Person)
    # SQLite joins in the order written and has no statistics to reorder by, so the
    # likely narrowest condition (the highest level) goes first. PostgreSQL reorders
    # joins itself, and score and tiebreaks are sums, so the answer is unchanged.
    # Each condition joins a Core alias of the table: the same SQL as an ORM alias,
    # without building an aliased mapper per condition and request.
    for condition in sorted(conditions, key=lambda condition: -condition.min_level):
        held = Proficiency.__table__.alias()
        joined = [
            held.c.person_id == Person.id,
            held.c.skill_id == condition.skill_id,
            held.c.level >= condition.min_level,
        ]
        if not include_expired:
            joined.append(counts_on(held.c.expires_on, today))
        statement = statement.join(held, and_(*joined))
        score = score + held.c.level
        verified = verified + case((held.c.verified_at.is_not(None), 1), else_=0)
    if text and text.strip():
        statement = statement.where(
            Person.name_key.contains(name_key(text.strip()), autoescape=True)
        )
    if not include_inactive:
        statement = statement.where(Person.active.is_(True))
    rows, total = page_rows(
        session,
        statement.add_columns(score.label("score")).order_by(
            score.desc(), verified.desc(), Person.name_key, Person.id
        ),
        page=page,
        limit=limit,
    )
    items = [PersonMatch(person=row[0], score=int(row.score)) for row in rows]
    return Page(items=items, total=total, page=page, limit=limit)
