"""Data versions: which changes invalidate what, bumped inside the changing transaction.

A change is read from the unit of work itself (each flush, and each bulk statement a
session executes), as the audit trail reads it, so no service can forget a bump:

* a skill or an alias, added, changed or removed: the catalogue;
* a person changed or removed, a token of theirs changed or removed (its last use
  excepted), a team membership of theirs added, changed or removed: that person;
* a team removed (its memberships go with it, in the database), or a bulk statement
  on ``person``, ``team_member``, ``team`` or ``api_token``: every principal.

Each bump is one upsert of ``data_version`` in the same transaction as the change, so
the new version becomes visible exactly when the change does. The tracker also tells
a ``Publisher`` (the shared cache) the new versions before the commit, again after it,
and which ones a rollback withdrew; see ``skills_service.caching``.

Nothing here imports Flask: services and the principal's queries use the columns below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, event, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from skills_service.models import ApiToken, DataVersion, Person, Skill, SkillAlias, Team, TeamMember

VersionKey = tuple[str, int]
CATALOGUE: VersionKey = ("catalogue", 0)
PRINCIPALS: VersionKey = ("principals", 0)
PERSON = "person"
UNTRACKED_TOKEN_COLUMNS = frozenset({"last_used_at"})
"""Recording a token's use changes nothing a principal is made of."""
BULK_TRACKED_TABLES: Mapping[str, VersionKey] = {
    "skill": CATALOGUE,
    "skill_alias": CATALOGUE,
    "person": PRINCIPALS,
    "team": PRINCIPALS,
    "team_member": PRINCIPALS,
    "api_token": PRINCIPALS,
}
_BUMPED = "skills_service.caching.bumped"


def person_key(person_id: int) -> VersionKey:
    return (PERSON, person_id)


def version_of(key: VersionKey) -> ColumnElement[int]:
    """The current version of ``key`` as a scalar subquery (0 before its first bump)."""
    kind, subject_id = key
    return func.coalesce(
        select(DataVersion.version)
        .where(DataVersion.kind == kind, DataVersion.subject_id == subject_id)
        .scalar_subquery(),
        0,
    )


def principal_epochs() -> tuple[ColumnElement[int], ...]:
    """The epochs of the selected ``Person`` and of every principal, labelled, for the
    principal's query.

    Read in the same statement as the person, they are exactly the versions of the
    rows read, however writers interleave.
    """
    person_epoch = func.coalesce(
        select(DataVersion.version)
        .where(DataVersion.kind == PERSON, DataVersion.subject_id == Person.id)
        .correlate_except(DataVersion)
        .scalar_subquery(),
        0,
    )
    return person_epoch.label("person_epoch"), version_of(PRINCIPALS).label("principals_epoch")


def read_versions(session: Session, keys: Iterable[VersionKey]) -> dict[VersionKey, int]:
    """The current versions of ``keys``, in one statement."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(
        select(DataVersion.kind, DataVersion.subject_id, DataVersion.version).where(
            DataVersion.kind.in_({kind for kind, _ in wanted}),
            DataVersion.subject_id.in_({subject_id for _, subject_id in wanted}),
        )
    )
    found = {(kind, subject_id): version for kind, subject_id, version in rows}
    return {key: found.get(key, 0) for key in wanted}


def bump(connection: Connection, keys: Iterable[VersionKey]) -> dict[VersionKey, int]:
    """Increment each version (creating it at 1), in key order; the new versions."""
    wanted = sorted(set(keys))
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DataVersion).values(
        [{"kind": kind, "subject_id": subject_id, "version": 1} for kind, subject_id in wanted]
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[DataVersion.kind, DataVersion.subject_id],
        set_={"version": DataVersion.version + 1},
    ).returning(DataVersion.kind, DataVersion.subject_id, DataVersion.version)
    return {(kind, subject_id): version for kind, subject_id, version in connection.execute(upsert)}


class Publisher(Protocol):
    """Where versions are copied for readers that do not ask the database (Redis)."""

    def bumped(self, versions: Mapping[VersionKey, int]) -> None:
        """Before the commit; raising refuses the change."""

    def committed(self, versions: Mapping[VersionKey, int]) -> None: ...

    def rolled_back(self, keys: Iterable[VersionKey]) -> None: ...


def _token_changed(token: ApiToken) -> bool:
    state = inspect(token)
    return any(
        attribute.history.has_changes()
        for attribute in state.attrs
        if attribute.key not in UNTRACKED_TOKEN_COLUMNS
    )


def changed_keys(session: Session) -> Iterator[VersionKey]:
    """What this flush changes, from the session's new, changed and deleted objects."""
    changed = [item for item in session.dirty if session.is_modified(item)]
    for item in [*session.new, *changed, *session.deleted]:
        if isinstance(item, Skill | SkillAlias):
            yield CATALOGUE
        elif isinstance(item, TeamMember) or (
            isinstance(item, ApiToken) and (item in session.deleted or _token_changed(item))
        ):
            yield person_key(item.person_id)
    for item in [*changed, *session.deleted]:
        if isinstance(item, Person):
            yield person_key(item.id)
    if any(isinstance(item, Team) for item in session.deleted):
        yield PRINCIPALS


def _bumped(session: Session) -> dict[VersionKey, int]:
    bumped: dict[VersionKey, int] = session.info.setdefault(_BUMPED, {})
    return bumped


def _bump_once(session: Session, keys: Iterable[VersionKey], publisher: Publisher) -> None:
    """Each key at most once per transaction: later changes commit with the same version."""
    bumped = _bumped(session)
    fresh = set(keys) - bumped.keys()
    if fresh:
        versions = bump(session.connection(), fresh)
        bumped.update(versions)
        publisher.bumped(versions)


def track(sessions: sessionmaker[Session], publisher: Publisher) -> None:
    """Bump the versions of what every session ``sessions`` makes changes."""

    def after_flush(session: Session, _flush: UOWTransaction) -> None:
        _bump_once(session, changed_keys(session), publisher)

    def do_orm_execute(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            table: Any = getattr(state.statement, "table", None)
            key = BULK_TRACKED_TABLES.get(getattr(table, "name", ""))
            if key is not None:
                _bump_once(state.session, [key], publisher)

    def after_commit(session: Session) -> None:
        versions = session.info.pop(_BUMPED, {})
        if versions:
            publisher.committed(versions)

    def after_rollback(session: Session) -> None:
        versions = session.info.pop(_BUMPED, {})
        if versions:
            publisher.rolled_back(versions)

    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "do_orm_execute", do_orm_execute)
    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_rollback", after_rollback)
