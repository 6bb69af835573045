"""The inverted index people search reads on PostgreSQL (``person_search``), and its upkeep.

Each person's row is derived from their ``person`` row and their proficiencies, and
every write to either calls ``refresh`` for the people it changed, in the same
transaction, so the index is never behind what it indexes. Expiry needs no upkeep:
a row keeps expired proficiencies with their expiry day, and the search compares it
with the day it is asked for.

SQLite has no index to search by; there ``refresh`` does nothing and the search joins
``proficiency`` (``services.search``).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from skills_service.models import Person, PersonSearch, Proficiency
from skills_service.services import person_locks
from skills_service.services.common import in_batches

TOKENS_PER_SKILL = 8
"""``skill_id * 8 + level`` for levels 1-5; the other values of each skill's range are unused."""
DAY = 128
LEVEL = 16
"""A grade is ``expiry day * DAY + level * LEVEL + verified``. ``grade % DAY`` sorts as
(level, verified) and adds up over up to ten conditions to ``score * LEVEL + verified``."""
FIRST_DAY = date(1, 1, 1)

COLUMNS = ("active", "name_key", "tokens", "skills", "grades", "expiry_first")


def is_indexed(session: Session) -> bool:
    """Whether this database keeps the index (PostgreSQL) or searches by joins (SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def token(skill_id: int, level: int) -> int:
    """The token of ``skill >= level``."""
    return skill_id * TOKENS_PER_SKILL + level


def refresh(session: Session, person_ids: Iterable[int]) -> None:
    """Bring these people's rows up to date with what this transaction has flushed.

    The people are locked first (``person_locks``), which waits for any other
    transaction writing for the same person to commit; only then does the upsert
    start, so its snapshot reads that transaction's proficiencies too. Without the
    lock, two concurrent writers to one person's skills would each write a row
    missing the other's change.
    """
    if not is_indexed(session):
        return
    ids = sorted(set(person_ids))
    person_locks.lock(session, ids)
    for batch in in_batches(ids):
        session.execute(_refresh_statement(), {"ids": batch})


def rebuild(session: Session) -> None:
    """Derive every person's row again, in one statement: for bulk loads with no other writer."""
    if is_indexed(session):
        session.execute(_upsert(true()))


@cache
def _refresh_statement() -> Any:
    """Built once (every write of a proficiency runs it); the ids are one array parameter."""
    return _upsert(Person.id == any_(bindparam("ids", type_=ARRAY(Integer))))


def _upsert(which: ColumnElement[bool]) -> Any:
    """Into the Core table: parameters given to an ORM entity's INSERT make it a bulk insert."""
    table = typing.cast(Table, PersonSearch.__table__)
    statement = pg_insert(table).from_select(["person_id", *COLUMNS], derived_rows().where(which))
    return statement.on_conflict_do_update(
        index_elements=[table.c.person_id],
        set_={name: statement.excluded[name] for name in COLUMNS},
    )


def _empty(element: type[BigInteger] | type[Integer]) -> ColumnElement[Any]:
    return literal([], ARRAY(element))


def derived_rows() -> Select[Any]:
    """Every person's row as ``person`` and ``proficiency`` say it should be."""
    held = Proficiency.__table__.alias("held")
    levels = func.generate_series(1, held.c.level).table_valued("reached").render_derived("levels")
    reached = levels.c.reached
    once = reached == 1
    day = func.coalesce(held.c.expires_on - literal(FIRST_DAY) + 1, 0)
    grade = day * DAY + held.c.level * LEVEL + case((held.c.verified_at.is_not(None), 1), else_=0)
    skill_token = cast(held.c.skill_id, BigInteger) * TOKENS_PER_SKILL + reached
    by_skill = held.c.skill_id
    derived = (
        select(
            func.coalesce(func.array_agg(skill_token), _empty(BigInteger)).label("tokens"),
            func.coalesce(
                func.array_agg(aggregate_order_by(held.c.skill_id, by_skill)).filter(once),
                _empty(Integer),
            ).label("skills"),
            func.coalesce(
                func.array_agg(aggregate_order_by(grade, by_skill)).filter(once), _empty(Integer)
            ).label("grades"),
            func.min(held.c.expires_on).label("expiry_first"),
        )
        .select_from(held)
        .join(levels, true())
        .where(held.c.person_id == Person.id)
        .lateral("derived")
    )
    return select(
        Person.id,
        Person.active,
        Person.name_key,
        derived.c.tokens,
        derived.c.skills,
        derived.c.grades,
        derived.c.expiry_first,
    ).join(derived, true())


@dataclass(frozen=True)
class Matching:
    """The rows meeting the conditions and their rank, with the values to execute them."""

    statement: Select[int, str, int]
    rank: ColumnElement[int]
    parameters: dict[str, Any]


def matching(
    conditions: Sequence[tuple[int, int]],
    *,
    today: date,
    include_expired: bool,
    include_inactive: bool,
) -> Matching:
    """The rows meeting every ``(skill_id, min_level)``, and their rank.

    The rank is ``score * LEVEL + verified``: ordering by it descending is ordering by
    score, then by verified conditions, as the joined query does. The GIN index finds
    the people holding every level; only people with a proficiency expired by
    ``today`` (``expiry_first`` before it) have their conditions' expiry days read.
    The statement is built once per number of conditions and flags; the skills, the
    tokens and the day are its parameters.
    """
    statement, rank = shape(len(conditions), include_expired, include_inactive)
    parameters: dict[str, Any] = {
        "tokens": [token(skill_id, level) for skill_id, level in conditions],
        **{f"skill_{n}": skill_id for n, (skill_id, _) in enumerate(conditions)},
    }
    if not include_expired:
        parameters |= {"today": today, "counted_from": today.toordinal() * DAY}
    return Matching(statement, rank, parameters)


@lru_cache(maxsize=64)
def shape(
    conditions: int, include_expired: bool, include_inactive: bool
) -> tuple[Select[int, str, int], ColumnElement[int]]:
    """The statement ``matching`` executes, for ``conditions`` conditions, and its rank."""
    row = PersonSearch
    grades = [
        row.grades[func.array_position(row.skills, bindparam(f"skill_{n}", type_=Integer))]
        for n in range(conditions)
    ]
    rank: ColumnElement[int] = sum((grade % DAY for grade in grades), literal(0))
    statement = select(row.person_id, row.name_key, rank.label("rank")).where(
        row.tokens.contains(bindparam("tokens", type_=ARRAY(BigInteger)))
    )
    if not include_expired:
        counted_from = bindparam("counted_from", type_=Integer)
        statement = statement.where(
            or_(
                row.expiry_first.is_(None),
                row.expiry_first >= bindparam("today", type_=Date),
                and_(*(or_(grade < DAY, grade >= counted_from) for grade in grades)),
            )
        )
    if not include_inactive:
        statement = statement.where(row.active.is_(True))
    return statement, rank
