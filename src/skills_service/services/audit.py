"""The audit trail: every change, written in the transaction that makes it, hash-chained.

Changes to the audited tables are captured from the unit of work itself (the
session's flushes), so no service can forget to record one; events that change no
row (a failed sign-in, a refused request) are recorded explicitly with ``record``.
At commit the pending events are appended to ``audit_event`` after the tail of the
chain, which the ``audit_head`` row lock serialises. Each event's hash covers its
own columns and the previous hash, so ``verify`` finds the first event that was
edited, deleted, inserted or moved.

Bulk SQL statements (``session.execute(update(...))``) bypass the unit of work: a
service that uses one on an audited table records the change itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, func, insert, inspect, select, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.attributes import get_history

from skills_service.models import AuditEvent, AuditHead
from skills_service.models.base import utcnow
from skills_service.services.common import Page

GENESIS_HASH = "0" * 64
HEAD_ID = 1
REDACTED = "[redacted]"
AUDITED_TABLES = frozenset(
    {
        "person",
        "skill",
        "skill_alias",
        "team",
        "team_member",
        "team_target",
        "proficiency",
        "api_token",
    }
)
SECRET_COLUMNS: Mapping[str, frozenset[str]] = {
    "person": frozenset({"password_hash", "totp_secret_encrypted"}),
    "api_token": frozenset({"token_hash"}),
}
"""Recorded as changed, never with their value."""
UNRECORDED_COLUMNS = frozenset({"updated_at", "version"})
"""Bookkeeping that every update touches; the event's own time and order say it all."""

_HEAD = cast(Table, AuditHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
"""The tables as Core: the append is plain SQL, with none of the ORM's bulk bookkeeping."""
_PENDING = "skills_service.audit.pending"
_SAVEPOINTS = "skills_service.audit.savepoints"


@dataclass(frozen=True)
class Context:
    """Who is acting and from where; supplied by the caller of ``install``."""

    actor_id: int | None = None
    credential: str = "system"
    address: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Entry:
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime = field(default_factory=utcnow)


def record(
    session: Session,
    action: str,
    *,
    target_type: str,
    target_id: object = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Add an event to the session's transaction; it is written when that commits."""
    _pending(session).append(
        Entry(
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            before=_jsonable(before) if before is not None else None,
            after=_jsonable(after) if after is not None else None,
        )
    )


def record_now(
    sessions: sessionmaker[Session],
    action: str,
    *,
    target_type: str,
    target_id: object = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record an event in a transaction of its own (the caller's may be rolled back)."""
    with sessions() as session, session.begin():
        record(session, action, target_type=target_type, target_id=target_id, after=after)


def install(sessions: sessionmaker[Session], context: Callable[[], Context]) -> None:
    """Audit every session ``sessions`` makes; ``context`` says who acts, at commit."""

    def append_pending(session: Session) -> None:
        session.flush()
        entries = session.info.pop(_PENDING, [])
        if entries:
            _append(session, entries, context())

    event.listen(sessions, "after_flush", _collect_changes)
    event.listen(sessions, "before_commit", append_pending)
    event.listen(sessions, "after_transaction_create", _mark_savepoint)
    event.listen(sessions, "after_soft_rollback", _discard_rolled_back)


def _pending(session: Session) -> list[Entry]:
    pending: list[Entry] = session.info.setdefault(_PENDING, [])
    return pending


def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_SAVEPOINTS, {})[id(transaction)] = len(_pending(session))


def _discard_rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        mark = session.info.get(_SAVEPOINTS, {}).pop(id(previous), None)
        if mark is not None:
            del _pending(session)[mark:]
        return
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_SAVEPOINTS, None)


def _collect_changes(session: Session, _flush_context: object) -> None:
    pending = _pending(session)
    for instance in session.new:
        if (table := _audited_table(instance)) is not None:
            pending.append(_entry(instance, table, "created", before=None, after=_row(instance)))
    for instance in session.dirty:
        if (table := _audited_table(instance)) is not None and session.is_modified(instance):
            before, after = _changes(instance)
            if after:
                pending.append(_entry(instance, table, "updated", before=before, after=after))
    for instance in session.deleted:
        if (table := _audited_table(instance)) is not None:
            pending.append(_entry(instance, table, "deleted", before=_row(instance), after=None))


def _audited_table(instance: object) -> str | None:
    name = str(inspect(instance).mapper.local_table.name)
    return name if name in AUDITED_TABLES else None


def _entry(
    instance: object,
    table: str,
    verb: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Entry:
    mapper = inspect(instance).mapper
    key = "/".join(str(value) for value in mapper.primary_key_from_instance(instance))
    return Entry(f"{table}.{verb}", table, key, before, after)


def _recorded_columns(instance: object) -> Iterator[tuple[str, str]]:
    """(attribute key, column name) of what an event shows for this instance."""
    for attribute in inspect(instance).mapper.column_attrs:
        name = attribute.columns[0].name
        if name not in UNRECORDED_COLUMNS:
            yield attribute.key, name


def _shown(table: str, column: str, value: object) -> object:
    if value is not None and column in SECRET_COLUMNS.get(table, ()):
        return REDACTED
    return _jsonable_value(value)


def _row(instance: object) -> dict[str, Any]:
    table = inspect(instance).mapper.local_table.name
    state = inspect(instance).dict
    return {
        column: _shown(table, column, state.get(key))
        for key, column in _recorded_columns(instance)
        if key in state
    }


def _changes(instance: object) -> tuple[dict[str, Any], dict[str, Any]]:
    table = inspect(instance).mapper.local_table.name
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, column in _recorded_columns(instance):
        history = get_history(instance, key)
        if not history.added or list(history.added) == list(history.deleted):
            continue
        after[column] = _shown(table, column, history.added[0])
        if history.deleted:
            before[column] = _shown(table, column, history.deleted[0])
    return before, after


def _jsonable_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(key): _jsonable(value) if isinstance(value, Mapping) else _jsonable_value(value)
        for key, value in values.items()
    }


def _append(session: Session, entries: list[Entry], context: Context) -> None:
    """Chain ``entries`` after the current tail, holding the head row's lock to commit.

    Called as the transaction commits, after its last flush, so the lock is taken as
    late as it can be and held for two statements and the commit: the head's row is
    locked and read, the events are hashed in Python, and one statement appends them
    and moves the head (two for many events, or on a backend without data-modifying
    CTEs).
    """
    head = session.execute(_lock_head()).one_or_none()
    if head is None:
        raise RuntimeError("The audit trail has no head row; run 'skills-service db upgrade'.")
    seq, previous = int(head.seq), str(head.hash)
    rows = []
    for entry in entries:
        seq += 1
        columns = {
            "seq": seq,
            "occurred_at": entry.at,
            "actor_id": context.actor_id,
            "credential": context.credential,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "before": entry.before,
            "after": entry.after,
            "address": context.address,
            "request_id": context.request_id,
        }
        digest = event_hash(previous, columns)
        rows.append({**columns, "prev_hash": previous, "hash": digest})
        previous = digest
    head_values = {"head_seq": seq, "head_hash": previous}
    if session.get_bind().dialect.name == "postgresql" and len(rows) <= APPENDED_IN_ONE:
        parameters = {
            f"{name}_{n}": value for n, row in enumerate(rows) for name, value in row.items()
        }
        session.execute(_append_and_move_head(len(rows)), {**parameters, **head_values})
    else:
        session.execute(insert(_EVENTS), rows)
        session.execute(_move_head(), head_values)


APPENDED_IN_ONE = 8
"""Up to this many events are appended by the statement that moves the head."""


@cache
def _lock_head() -> Any:
    return (
        update(_HEAD)
        .where(_HEAD.c.id == HEAD_ID)
        .values(seq=_HEAD.c.seq)
        .returning(_HEAD.c.seq, _HEAD.c.hash)
    )


@cache
def _move_head() -> Any:
    return (
        update(_HEAD)
        .where(_HEAD.c.id == HEAD_ID)
        .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
    )


@lru_cache(maxsize=APPENDED_IN_ONE)
def _append_and_move_head(events: int) -> Any:
    """The head's move with one single-row INSERT per event as data-modifying CTEs.

    Built once per number of events, with named parameters: a multi-row VALUES
    has no cache key, so it would be compiled anew on every commit.
    """
    appends = [
        insert(_EVENTS)
        .values(
            {
                column.name: bindparam(f"{column.name}_{n}", type_=column.type)
                for column in _EVENTS.c
            }
        )
        .cte(f"appended_{n}")
        for n in range(events)
    ]
    return _move_head().add_cte(*appends)


HASHED_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_id",
    "credential",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "address",
    "request_id",
)


def event_hash(previous: str, columns: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON form of the event's columns."""
    body = {
        name: _jsonable_value(columns[name]) if name not in ("before", "after") else columns[name]
        for name in HASHED_COLUMNS
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    events: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(session: Session, *, batch: int = 1000) -> Verification:
    """Walk the chain from the start; report the first event that does not fit."""
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    if head is None:
        return Verification(0, 0, GENESIS_HASH, broken_at=0, reason="the head row is missing")
    expected_seq, previous, count = 1, GENESIS_HASH, 0
    columns = [getattr(AuditEvent, name) for name in (*HASHED_COLUMNS, "prev_hash", "hash")]
    statement = select(*columns).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    with session.execute(statement) as result:
        for row in result.mappings():
            seq = int(row["seq"])
            if seq != expected_seq:
                what = "missing" if seq > expected_seq else "out of order"
                return _broken(head, count, expected_seq, f"event {expected_seq} is {what}")
            if row["prev_hash"] != previous:
                return _broken(head, count, seq, "its link to the previous event does not match")
            if event_hash(previous, dict(row)) != row["hash"]:
                return _broken(head, count, seq, "its content does not match its hash")
            previous, expected_seq, count = str(row["hash"]), seq + 1, count + 1
    if (int(head.seq), str(head.hash)) != (count, previous):
        return _broken(
            head, count, count + 1, f"the head names event {head.seq} but the chain ends at {count}"
        )
    return Verification(count, int(head.seq), str(head.hash))


def _broken(head: Any, count: int, seq: int, reason: str) -> Verification:
    return Verification(count, int(head.seq), str(head.hash), broken_at=seq, reason=reason)


@dataclass(frozen=True)
class EventFilter:
    actor_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def events(session: Session, filters: EventFilter, *, page: int, limit: int) -> Page[AuditEvent]:
    """Events matching ``filters``, newest first. ``action`` ``"person."`` matches a prefix."""
    conditions = []
    if filters.actor_id is not None:
        conditions.append(AuditEvent.actor_id == filters.actor_id)
    if filters.action:
        if filters.action.endswith("."):
            conditions.append(AuditEvent.action.startswith(filters.action, autoescape=True))
        else:
            conditions.append(AuditEvent.action == filters.action)
    if filters.target_type:
        conditions.append(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        conditions.append(AuditEvent.target_id == filters.target_id)
    if filters.since is not None:
        conditions.append(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEvent.occurred_at < filters.until)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    items = session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.seq.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    ).all()
    return Page(items, total, page, limit)
