"""The lock that serialises the writes derived from all of one person's proficiencies.

The dashboard totals (``summaries``) and the search index (``search_index``) are each
computed from every proficiency a person holds, so two transactions writing for the
same person must derive one after the other, each reading what the other committed.
Both take the same lock: ``FOR NO KEY UPDATE`` on the person's row (which inserting
a proficiency's ``FOR KEY SHARE`` foreign-key check does not wait for), in id order,
so that no two writers deadlock. A transaction takes it once per person: the ids it
locked are remembered with the transaction, or with the savepoint that took them,
since rolling a savepoint back releases the locks taken inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, SessionTransaction

from skills_service.models import Person
from skills_service.services.common import in_batches

_LOCKED = "person_locks"


def lock_reading_active(session: Session, person_ids: Iterable[int]) -> set[int]:
    """Lock these people's rows (those not locked yet) and return the ids of the active ones."""
    ids = sorted(set(person_ids))
    active: set[int] = set()
    for batch in in_batches(ids):
        for person_id, is_active in session.execute(_lock_statement(), {"ids": batch}):
            if is_active:
                active.add(person_id)
    _remember(session, ids)
    return active


def lock(session: Session, person_ids: Iterable[int]) -> None:
    """Lock the rows of those of these people this transaction has not locked yet."""
    locked = _locked(session)
    missing = sorted(set(person_ids) - locked)
    for batch in in_batches(missing):
        session.execute(_lock_statement(), {"ids": batch})
    _remember(session, missing)


@cache
def _lock_statement() -> Any:
    """Built once; the ids are expanded into the ``IN`` list as it is executed."""
    return (
        select(Person.id, Person.active)
        .where(Person.id.in_(bindparam("ids", expanding=True)))
        .order_by(Person.id)
        .with_for_update(key_share=True)
    )


def _current(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _locked(session: Session) -> set[int]:
    """The ids locked by the current transaction and the transactions it is nested in."""
    by_transaction: WeakKeyDictionary[SessionTransaction, set[int]] | None = session.info.get(
        _LOCKED
    )
    locked: set[int] = set()
    transaction = _current(session)
    while by_transaction is not None and transaction is not None:
        locked |= by_transaction.get(transaction, set())
        transaction = transaction.parent
    return locked


def _remember(session: Session, person_ids: Iterable[int]) -> None:
    transaction = _current(session)
    if transaction is None:
        return
    by_transaction = session.info.setdefault(_LOCKED, WeakKeyDictionary())
    by_transaction.setdefault(transaction, set()).update(person_ids)
