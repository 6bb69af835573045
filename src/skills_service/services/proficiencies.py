"""A person's proficiencies: self-assessed, verified by a manager, kept with history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from skills_service.models import Person, Proficiency, ProficiencyChange, Skill, TeamMember
from skills_service.models.base import utcnow
from skills_service.models.proficiency import NOTE_MAX_LENGTH
from skills_service.services import audit, search_index, summaries
from skills_service.services.common import NUL_MESSAGE, check_version, in_batches, parse_etag
from skills_service.services.people import get_person
from skills_service.services.skills import get_skill

EXPIRY_WARNING_DAYS = 90


@dataclass(frozen=True)
class ProficiencyInput:
    level: int
    interested: bool = False
    note: str = ""
    expires_on: date | None = None


def get_proficiency(session: Session, person_id: int, skill_id: int) -> Proficiency:
    proficiency = session.get(Proficiency, (person_id, skill_id))
    if proficiency is None:
        raise NotFound(f"Person {person_id} has no proficiency in skill {skill_id}.")
    return proficiency


def proficiencies_of(session: Session, person_id: int) -> Sequence[Proficiency]:
    get_person(session, person_id)
    return session.scalars(
        select(Proficiency)
        .join(Skill, Skill.id == Proficiency.skill_id)
        .where(Proficiency.person_id == person_id)
        .order_by(Proficiency.level.desc(), Skill.name_key)
    ).all()


def held_by(session: Session, person_ids: Iterable[int]) -> dict[tuple[int, int], Proficiency]:
    """Every proficiency of these people by (person, skill), looked up in bounded batches."""
    found: dict[tuple[int, int], Proficiency] = {}
    for batch in in_batches(person_ids):
        found.update(
            ((proficiency.person_id, proficiency.skill_id), proficiency)
            for proficiency in session.scalars(
                select(Proficiency).where(Proficiency.person_id.in_(batch))
            )
        )
    return found


@dataclass(frozen=True)
class PendingVerification:
    proficiency: Proficiency
    person: Person
    skill: Skill


def awaiting_verification(
    session: Session, *, verifier_id: int, everyone: bool, limit: int = 200
) -> Sequence[PendingVerification]:
    """Unverified proficiencies the verifier may verify, most recently changed first.

    ``everyone`` (for administrators) lists every person; otherwise only members of
    the teams the verifier manages. Nobody is ever asked to verify their own.
    """
    statement = (
        select(Proficiency, Person, Skill)
        .join(Person, Person.id == Proficiency.person_id)
        .join(Skill, Skill.id == Proficiency.skill_id)
        .where(
            Proficiency.verified_at.is_(None),
            Proficiency.person_id != verifier_id,
            Person.active,
        )
    )
    if not everyone:
        managed = select(TeamMember.team_id).where(
            TeamMember.person_id == verifier_id, TeamMember.is_manager
        )
        members = select(TeamMember.person_id).where(TeamMember.team_id.in_(managed))
        statement = statement.where(Proficiency.person_id.in_(members))
    rows = session.execute(
        statement.order_by(Proficiency.updated_at.desc(), Proficiency.person_id).limit(limit)
    ).all()
    return [PendingVerification(*row) for row in rows]


def is_expired(proficiency: Proficiency, today: date) -> bool:
    return proficiency.expires_on is not None and proficiency.expires_on < today


def expiring_soon(
    session: Session, person_ids: Sequence[int], today: date
) -> Sequence[Proficiency]:
    """Certifications that lapse within the warning window, soonest first."""
    horizon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    return session.scalars(
        select(Proficiency)
        .where(
            Proficiency.person_id.in_(person_ids),
            Proficiency.expires_on.is_not(None),
            Proficiency.expires_on >= today,
            Proficiency.expires_on <= horizon,
        )
        .order_by(Proficiency.expires_on)
    ).all()


def upsert_proficiency(
    session: Session,
    *,
    person_id: int,
    skill_id: int,
    data: ProficiencyInput,
    actor_id: int | None,
    if_match: str | None,
    if_none_match: str | None = None,
    unconditional: bool = False,
) -> tuple[Proficiency, bool]:
    """Create or replace; returns the proficiency and whether it was created.

    Replacing an existing one needs its ETag in ``if_match``, unless the caller is a
    trusted batch writer (CSV import) that says ``unconditional``. A change of level or
    expiry makes the proficiency self-assessed again: a verification vouches for
    what the manager saw, not for what came after. An existing proficiency proves
    that its person and skill exist; only a new one looks them up.
    """
    proficiency = session.get(Proficiency, (person_id, skill_id))
    created = proficiency is None
    before = None if proficiency is None else summaries.held(proficiency)
    if proficiency is None:
        proficiency = _new_proficiency(
            session,
            person_id=person_id,
            skill_id=skill_id,
            data=data,
            expects_one=parse_etag(if_match) is not None and not unconditional,
        )
    else:
        _validate(data)
        if if_none_match is not None and if_none_match.strip() == "*":
            raise PreconditionFailed("The proficiency already exists.")
        if not unconditional:
            check_version(proficiency.version, if_match)
    change_proficiency(proficiency, vars(data))
    session.flush()
    summaries.proficiencies_changed(
        session,
        [summaries.ProficiencyWrite(person_id, skill_id, before, summaries.held(proficiency))],
    )
    search_index.refresh(session, [person_id])
    _record(session, proficiency, action="set", actor_id=actor_id)
    return proficiency, created


CHANGEABLE = ("level", "interested", "note", "expires_on")
"""What a person (or an import) sets; the verification is a manager's alone."""
VOUCHED_FOR = frozenset({"level", "expires_on"})
"""A change to one of these ends the verification."""


def proficiency_changes(
    proficiency: Proficiency, values: Mapping[str, object], *, end_verification: bool = False
) -> dict[str, object]:
    """The columns that ``values`` change; a new level or expiry also ends the verification.

    A verification vouches for what the manager saw, not for what came after;
    ``end_verification`` ends it whatever changed. Equal values are no change.
    """
    changes = {
        name: value
        for name in CHANGEABLE
        if name in values and (value := values[name]) != getattr(proficiency, name)
    }
    if proficiency.verified_at is not None and (
        end_verification or not VOUCHED_FOR.isdisjoint(changes)
    ):
        changes.update(verified_by_id=None, verified_at=None)
    return changes


def change_proficiency(proficiency: Proficiency, values: Mapping[str, object]) -> None:
    for name, value in proficiency_changes(proficiency, values).items():
        setattr(proficiency, name, value)


def write_changes(
    session: Session,
    changed: Sequence[tuple[Proficiency, dict[str, object]]],
    *,
    actor_id: int | None,
) -> None:
    """Write many proficiencies' changes in a few ``executemany`` UPDATEs.

    Each row's version is compared and bumped as the ORM does for a single row, so a
    concurrent change is a conflict, never overwritten. A bulk statement bypasses the
    unit of work, so the audit events and history rows are recorded here.
    """
    now = utcnow()
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    history: list[dict[str, object]] = []
    for proficiency, changes in changed:
        groups.setdefault(tuple(sorted(changes)), []).append(
            {
                "key_person_id": proficiency.person_id,
                "key_skill_id": proficiency.skill_id,
                "key_version": proficiency.version,
                "new_version": proficiency.version + 1,
                "new_updated_at": now,
                **{f"new_{name}": value for name, value in changes.items()},
            }
        )
        audit.record(
            session,
            "proficiency.updated",
            target_type="proficiency",
            target_id=f"{proficiency.person_id}/{proficiency.skill_id}",
            before={name: getattr(proficiency, name) for name in changes},
            after=changes,
        )
        entry = history_entry(proficiency, action="set", actor_id=actor_id)
        entry.update((name, value) for name, value in changes.items() if name in entry)
        history.append(entry)
    table = cast(Table, Proficiency.__table__)
    connection = session.connection()
    for columns, rows in groups.items():
        statement = (
            update(table)
            .where(
                table.c.person_id == bindparam("key_person_id"),
                table.c.skill_id == bindparam("key_skill_id"),
                table.c.version == bindparam("key_version"),
            )
            .values(
                version=bindparam("new_version"),
                updated_at=bindparam("new_updated_at"),
                **{name: bindparam(f"new_{name}") for name in columns},
            )
        )
        if connection.execute(statement, rows).rowcount != len(rows):
            raise Conflict("A proficiency changed while the file was imported; import it again.")
    if history:
        session.execute(insert(ProficiencyChange), history)
    summaries.proficiencies_changed(
        session,
        [
            summaries.ProficiencyWrite(
                proficiency.person_id,
                proficiency.skill_id,
                summaries.held(proficiency),
                summaries.Held(
                    cast(int, changes.get("level", proficiency.level)),
                    cast("date | None", changes.get("expires_on", proficiency.expires_on)),
                ),
            )
            for proficiency, changes in changed
        ],
    )
    for proficiency, _ in changed:
        session.expire(proficiency)


def history_entry(
    proficiency: Proficiency, *, action: str, actor_id: int | None
) -> dict[str, object]:
    """The proficiency's state as one row of its history."""
    return {
        "person_id": proficiency.person_id,
        "skill_id": proficiency.skill_id,
        "action": action,
        "level": proficiency.level,
        "interested": proficiency.interested,
        "note": proficiency.note,
        "expires_on": proficiency.expires_on,
        "verified_by_id": proficiency.verified_by_id,
        "changed_by_id": actor_id,
    }


def _new_proficiency(
    session: Session, *, person_id: int, skill_id: int, data: ProficiencyInput, expects_one: bool
) -> Proficiency:
    get_person(session, person_id)
    skill = get_skill(session, skill_id)
    _validate(data)
    if expects_one:
        raise PreconditionFailed("The proficiency does not exist; it cannot match an ETag.")
    if skill.deprecated:
        raise InvalidInput(
            "The skill is deprecated.",
            {"skill_id": ["Deprecated skills take no new proficiencies."]},
        )
    proficiency = Proficiency(person_id=person_id, skill_id=skill_id, level=data.level)
    session.add(proficiency)
    return proficiency


def delete_proficiency(
    session: Session, *, person_id: int, skill_id: int, actor_id: int, if_match: str | None
) -> None:
    proficiency = get_proficiency(session, person_id, skill_id)
    check_version(proficiency.version, if_match)
    session.add(
        ProficiencyChange(
            person_id=person_id,
            skill_id=skill_id,
            action="delete",
            level=None,
            interested=None,
            note=None,
            expires_on=None,
            verified_by_id=None,
            changed_by_id=actor_id,
        )
    )
    session.delete(proficiency)
    session.flush()
    summaries.proficiencies_changed(
        session,
        [summaries.ProficiencyWrite(person_id, skill_id, summaries.held(proficiency), None)],
    )
    search_index.refresh(session, [person_id])


def verify_proficiency(
    session: Session,
    *,
    person_id: int,
    skill_id: int,
    verifier_id: int,
    if_match: str | None,
    now: datetime | None = None,
) -> Proficiency:
    """Vouch for the current level. ``If-Match`` is optional here but honoured."""
    proficiency = get_proficiency(session, person_id, skill_id)
    if if_match is not None:
        check_version(proficiency.version, if_match)
    proficiency.verified_by_id = verifier_id
    proficiency.verified_at = now or utcnow()
    session.flush()
    search_index.refresh(session, [person_id])
    _record(session, proficiency, action="verify", actor_id=verifier_id)
    return proficiency


def unverify_proficiency(
    session: Session, *, person_id: int, skill_id: int, actor_id: int, if_match: str | None
) -> Proficiency:
    proficiency = get_proficiency(session, person_id, skill_id)
    check_version(proficiency.version, if_match)
    proficiency.verified_by_id = None
    proficiency.verified_at = None
    session.flush()
    search_index.refresh(session, [person_id])
    _record(session, proficiency, action="unverify", actor_id=actor_id)
    return proficiency


def history(
    session: Session, *, person_id: int, skill_id: int | None = None, limit: int = 200
) -> Sequence[ProficiencyChange]:
    get_person(session, person_id)
    statement = select(ProficiencyChange).where(ProficiencyChange.person_id == person_id)
    if skill_id is not None:
        statement = statement.where(ProficiencyChange.skill_id == skill_id)
    return session.scalars(statement.order_by(ProficiencyChange.id.desc()).limit(limit)).all()


def _validate(data: ProficiencyInput) -> None:
    errors: dict[str, list[str]] = {}
    if not 1 <= data.level <= 5:
        errors["level"] = ["Must be between 1 and 5."]
    if len(data.note) > NOTE_MAX_LENGTH:
        errors["note"] = [f"At most {NOTE_MAX_LENGTH} characters."]
    if "\x00" in data.note:
        errors["note"] = [NUL_MESSAGE]
    if errors:
        raise InvalidInput("The proficiency is not valid.", errors)


def _record(
    session: Session, proficiency: Proficiency, *, action: str, actor_id: int | None
) -> None:
    """Add the proficiency's state to its history (a plain INSERT: history is not audited)."""
    session.execute(
        insert(ProficiencyChange), [history_entry(proficiency, action=action, actor_id=actor_id)]
    )
