"""The dashboard's running totals: counted once per write, read in a few hundred rows.

Two totals feed the org-wide charts: active people per skill and level, and per
category the active people holding one of its skills at ``COVERAGE_LEVEL`` or
above. Each is a sum of signed counts keyed by ``counts_after`` (the day after
which a row counts, ``ALWAYS`` for every day): a proficiency adds one from always
and, when its certification expires, takes one away after the day it expires. So
"only unexpired proficiencies count" is the read's condition ``counts_after <
today``, right on any day without a sweep; a person covers a category until the
latest expiry among their qualifying proficiencies (never, if one does not expire).

Writers only insert into the delta logs: no counter row is shared by writers of
the same skill, so they never wait for each other here. A person's writes (and
their activation) are serialised by a lock on their row, because coverage depends
on all of that person's proficiencies. ``fold`` moves the logs into the count
tables, which only it updates, and merges what counts already into ``ALWAYS``; it
only keeps the rows read few, reads are right whether it ran or not.

Every write of a proficiency's level or expiry calls ``proficiencies_changed``
after its flush; (de)activating people calls ``people_activated``; moving a skill
to another category calls ``skill_recategorised``. Bulk loads call ``rebuild``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from skills_service.models import (
    CategoryCoverageCount,
    CategoryCoverageDelta,
    Person,
    Proficiency,
    Skill,
    SkillLevelCount,
    SkillLevelDelta,
)
from skills_service.models.dashboard import ALWAYS
from skills_service.services import person_locks
from skills_service.services.common import in_batches

COVERAGE_LEVEL = 3
"""The level from which a proficiency covers its category."""
NEVER = date.max
"""The horizon of coverage by a proficiency whose certification does not expire."""

SkillKey = tuple[int, int, date]
"""(skill id, level, counts after)."""
CategoryKey = tuple[str, date]
"""(category, counts after)."""


@dataclass(frozen=True)
class Held:
    """What of a proficiency the totals count: its level and certification expiry."""

    level: int
    expires_on: date | None

    @property
    def covers_until(self) -> date | None:
        """The last day it covers its category (``NEVER``), or None below the level."""
        if self.level < COVERAGE_LEVEL:
            return None
        return self.expires_on or NEVER


@dataclass(frozen=True)
class ProficiencyWrite:
    """One proficiency before and after a write (None: it did not, or no longer, exist)."""

    person_id: int
    skill_id: int
    before: Held | None
    after: Held | None


def held(proficiency: Proficiency) -> Held:
    return Held(proficiency.level, proficiency.expires_on)


def _add_skill(totals: Counter[SkillKey], skill_id: int, state: Held | None, sign: int) -> None:
    if state is None:
        return
    totals[(skill_id, state.level, ALWAYS)] += sign
    if state.expires_on is not None:
        totals[(skill_id, state.level, state.expires_on)] -= sign


def _add_coverage(
    totals: Counter[CategoryKey], category: str, until: date | None, sign: int
) -> None:
    if until is None:
        return
    totals[(category, ALWAYS)] += sign
    if until != NEVER:
        totals[(category, until)] -= sign


def _covers_until(state: Held | None) -> date | None:
    return state.covers_until if state is not None else None


def _latest(*days: date | None) -> date | None:
    present = [day for day in days if day is not None]
    return max(present) if present else None


def proficiencies_changed(session: Session, writes: Sequence[ProficiencyWrite]) -> None:
    """Record what flushed proficiency writes change in the totals (in their transaction).

    Locks the people written for (``person_locks``), so that two writes for one
    person, or a write and the person's deactivation, are counted one after the
    other. Writes for inactive people count nothing: activation counts them then.
    """
    writes = [write for write in writes if write.before != write.after]
    if not writes:
        return
    active = person_locks.lock_reading_active(session, (write.person_id for write in writes))
    writes = [write for write in writes if write.person_id in active]
    skills: Counter[SkillKey] = Counter()
    for write in writes:
        _add_skill(skills, write.skill_id, write.before, -1)
        _add_skill(skills, write.skill_id, write.after, 1)
    covering = [
        write for write in writes if _covers_until(write.before) != _covers_until(write.after)
    ]
    _insert(session, SKILL_LEVELS, skills)
    _insert(session, COVERAGE, _coverage_changes(session, covering))


def _coverage_changes(session: Session, writes: Sequence[ProficiencyWrite]) -> Counter[CategoryKey]:
    """How the written people's coverage of the written skills' categories moves.

    A person covers a category until the latest day any qualifying proficiency of
    theirs in it covers; the other proficiencies are read as the lock left them.
    """
    totals: Counter[CategoryKey] = Counter()
    if not writes:
        return totals
    written = {(write.person_id, write.skill_id) for write in writes}
    category_of: dict[int, str] = {}
    others: dict[tuple[int, str], date | None] = defaultdict(lambda: None)
    for batch in in_batches(sorted({write.person_id for write in writes})):
        for skill_id, category, person_id, held_skill, expires_on in _qualifying(
            session, batch, {write.skill_id for write in writes}
        ):
            category_of[skill_id] = category
            if person_id is not None and (person_id, held_skill) not in written:
                key = (person_id, category)
                others[key] = _latest(others[key], expires_on or NEVER)
    before: dict[tuple[int, str], date | None] = {}
    after: dict[tuple[int, str], date | None] = {}
    for write in writes:
        key = (write.person_id, category_of[write.skill_id])
        before[key] = _latest(before.get(key, others[key]), _covers_until(write.before))
        after[key] = _latest(after.get(key, others[key]), _covers_until(write.after))
    for key in before:
        if before[key] != after[key]:
            _add_coverage(totals, key[1], before[key], -1)
            _add_coverage(totals, key[1], after[key], 1)
    return totals


def _qualifying(
    session: Session, person_ids: Sequence[int], skill_ids: Iterable[int]
) -> Sequence[tuple[int, str, int | None, int | None, date | None]]:
    """Every skill in the categories of ``skill_ids``, with these people's qualifying
    proficiencies in it (a skill nobody of them qualifies in comes once, with Nones)."""
    rows = session.execute(
        _qualifying_statement(), {"person_ids": list(person_ids), "skill_ids": sorted(skill_ids)}
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


@cache
def _qualifying_statement() -> Select[int, str, int, int, date | None]:
    """Built once (every write of coverage reads it); the ids are expanding parameters."""
    written = aliased(Skill)
    return (
        select(
            Skill.id,
            Skill.category,
            Proficiency.person_id,
            Proficiency.skill_id,
            Proficiency.expires_on,
        )
        .outerjoin(
            Proficiency,
            (Proficiency.skill_id == Skill.id)
            & Proficiency.person_id.in_(bindparam("person_ids", expanding=True))
            & (Proficiency.level >= COVERAGE_LEVEL),
        )
        .where(
            Skill.category.in_(
                select(written.category).where(
                    written.id.in_(bindparam("skill_ids", expanding=True))
                )
            )
        )
    )


def people_activated(session: Session, person_ids: Sequence[int], *, active: bool) -> None:
    """Count (``active``) or stop counting the proficiencies of people whose flag changed.

    Call after the flush that changed the flag: that UPDATE's row lock makes any
    write for these people wait, and what they committed before is read here.
    """
    if not person_ids:
        return
    sign = 1 if active else -1
    for batch in in_batches(sorted(person_ids)):
        skills, coverage = _contributions(session, Proficiency.person_id.in_(batch))
        _insert(session, SKILL_LEVELS, Counter({key: sign * n for key, n in skills.items()}))
        _insert(session, COVERAGE, Counter({key: sign * n for key, n in coverage.items()}))


def skill_recategorised(session: Session, *, skill_id: int, old_category: str) -> None:
    """Move the coverage that the skill gives its holders from ``old_category`` to its new one.

    Call after the flush of the new category. The skill's row is locked against new
    proficiencies and its holders' rows against their writes, so that every write
    is counted either wholly before the move or wholly after it.
    """
    session.execute(select(Skill.id).where(Skill.id == skill_id).with_for_update())
    holders = select(Proficiency.person_id).where(Proficiency.skill_id == skill_id)
    session.execute(
        select(Person.id)
        .where(Person.id.in_(holders))
        .order_by(Person.id)
        .with_for_update(key_share=True)
    )
    new_category = session.scalars(select(Skill.category).where(Skill.id == skill_id)).one()
    qualifying = holders.where(Proficiency.level >= COVERAGE_LEVEL)
    before: dict[tuple[int, str], date | None] = defaultdict(lambda: None)
    after: dict[tuple[int, str], date | None] = defaultdict(lambda: None)
    for person_id, held_skill, category, expires_on in session.execute(
        select(Proficiency.person_id, Proficiency.skill_id, Skill.category, Proficiency.expires_on)
        .join(Skill, Skill.id == Proficiency.skill_id)
        .join(Person, Person.id == Proficiency.person_id)
        .where(
            Person.active,
            Proficiency.person_id.in_(qualifying),
            Proficiency.level >= COVERAGE_LEVEL,
            Skill.category.in_([old_category, new_category]),
        )
    ):
        until = expires_on or NEVER
        was = old_category if held_skill == skill_id else category
        before[(person_id, was)] = _latest(before[(person_id, was)], until)
        after[(person_id, category)] = _latest(after[(person_id, category)], until)
    totals: Counter[CategoryKey] = Counter()
    for key in before.keys() | after.keys():
        if before[key] != after[key]:
            _add_coverage(totals, key[1], before[key], -1)
            _add_coverage(totals, key[1], after[key], 1)
    _insert(session, COVERAGE, totals)


def _contributions(
    session: Session, people: ColumnElement[bool]
) -> tuple[Counter[SkillKey], Counter[CategoryKey]]:
    """What the proficiencies of the people selected by ``people`` add to the totals."""
    skills: Counter[SkillKey] = Counter()
    for skill_id, level, expires_on, count in session.execute(
        select(Proficiency.skill_id, Proficiency.level, Proficiency.expires_on, func.count())
        .join(Person, Person.id == Proficiency.person_id)
        .where(people)
        .group_by(Proficiency.skill_id, Proficiency.level, Proficiency.expires_on)
    ):
        _add_skill(skills, skill_id, Held(level, expires_on), count)
    horizons = (
        select(
            Skill.category.label("category"),
            func.max(func.coalesce(Proficiency.expires_on, NEVER)).label("until"),
        )
        .join(Skill, Skill.id == Proficiency.skill_id)
        .join(Person, Person.id == Proficiency.person_id)
        .where(people, Proficiency.level >= COVERAGE_LEVEL)
        .group_by(Proficiency.person_id, Skill.category)
        .subquery()
    )
    coverage: Counter[CategoryKey] = Counter()
    for category, until, count in session.execute(
        select(horizons.c.category, horizons.c.until, func.count()).group_by(
            horizons.c.category, horizons.c.until
        )
    ):
        _add_coverage(coverage, category, until, count)
    return skills, coverage


@dataclass(frozen=True)
class _Total:
    """A total's count table, its delta log, and the columns before ``counts_after``."""

    count: Table
    delta: Table
    key: tuple[str, ...]


SKILL_LEVELS = _Total(
    cast(Table, SkillLevelCount.__table__),
    cast(Table, SkillLevelDelta.__table__),
    ("skill_id", "level"),
)
COVERAGE = _Total(
    cast(Table, CategoryCoverageCount.__table__),
    cast(Table, CategoryCoverageDelta.__table__),
    ("category",),
)


def _rows(
    total: _Total, counts: Counter[SkillKey] | Counter[CategoryKey]
) -> list[dict[str, object]]:
    columns = (*total.key, "counts_after")
    return [
        {**dict(zip(columns, key, strict=True)), "people": people}
        for key, people in sorted(counts.items())
        if people
    ]


def _insert(
    session: Session, total: _Total, counts: Counter[SkillKey] | Counter[CategoryKey]
) -> None:
    if rows := _rows(total, counts):
        session.execute(insert(total.delta), rows)


def _add_counts(
    session: Session, total: _Total, counts: Counter[SkillKey] | Counter[CategoryKey]
) -> None:
    """Add to the count rows, in key order (so that two folds never deadlock)."""
    rows = _rows(total, counts)
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(total.count)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[*total.key, "counts_after"],
            set_={"people": total.count.c.people + statement.excluded.people},
        ),
        rows,
    )


def fold(session: Session, *, today: date) -> int:
    """Move the delta logs into the count tables, and what counts by ``today`` into ``ALWAYS``.

    The totals read on ``today`` or later are the same before and after; only fewer
    rows hold them. Concurrent folds each move the rows they delete, so none is
    counted twice.
    """
    logged = 0
    for total in (SKILL_LEVELS, COVERAGE):
        moved: Counter[SkillKey] | Counter[CategoryKey] = Counter()
        columns = (*total.key, "counts_after", "people")
        for table, condition in (
            (total.delta, None),
            (
                total.count,
                (total.count.c.counts_after > ALWAYS) & (total.count.c.counts_after < today),
            ),
        ):
            statement = delete(table).returning(*(table.c[name] for name in columns))
            if condition is not None:
                statement = statement.where(condition)
            for *key, counts_after, people in session.execute(statement):
                moved[(*key, ALWAYS if counts_after < today else counts_after)] += people
                logged += table is total.delta
        _add_counts(session, total, moved)
        session.execute(delete(total.count).where(total.count.c.people == 0))
    return logged


def rebuild(session: Session, *, today: date) -> None:
    """Count every active person's proficiencies afresh (after a bulk load), folded."""
    for total in (SKILL_LEVELS, COVERAGE):
        session.execute(delete(total.delta))
        session.execute(delete(total.count))
    skills, coverage = _contributions(session, Person.active.is_(True))
    _insert(session, SKILL_LEVELS, skills)
    _insert(session, COVERAGE, coverage)
    fold(session, today=today)


def _current(total: _Total, today: date) -> Subquery:
    """The total's signed counts that hold on ``today``, folded or not."""
    columns = (*total.key, "people")
    return union_all(
        *(
            select(*(table.c[name] for name in columns)).where(table.c.counts_after < today)
            for table in (total.count, total.delta)
        )
    ).subquery()


def skill_levels(
    session: Session, *, today: date, category: str | None
) -> Sequence[tuple[str, int, int]]:
    """(skill name, level, active people) for every level held, optionally in one category."""
    current = _current(SKILL_LEVELS, today)
    people = func.sum(current.c.people)
    statement = (
        select(Skill.name, current.c.level, people)
        .join(Skill, Skill.id == current.c.skill_id)
        .group_by(Skill.name, current.c.level)
        .having(people > 0)
    )
    if category:
        statement = statement.where(func.lower(Skill.category) == category.lower())
    return [
        (str(name), int(level), int(count)) for name, level, count in session.execute(statement)
    ]


def category_coverage(
    session: Session, *, today: date, category: str | None
) -> Sequence[tuple[str, int]]:
    """(category, active people covering it) for every category covered, by category."""
    current = _current(COVERAGE, today)
    people = func.sum(current.c.people)
    statement = (
        select(current.c.category, people)
        .group_by(current.c.category)
        .having(people > 0)
        .order_by(current.c.category)
    )
    if category:
        statement = statement.where(func.lower(current.c.category) == category.lower())
    return [(str(name), int(count)) for name, count in session.execute(statement)]
