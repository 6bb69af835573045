"""The person lock: taken once per transaction, released with a rolled-back savepoint,
and held against other writers until commit (PostgreSQL; SQLite has one writer)."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.extensions import db
from skills_service.models import Person
from skills_service.services import people, person_locks
from tests.conftest import POSTGRES_URL
from tests.integration.statements import counting

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="row locks are PostgreSQL's"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def _person(app: Flask, email: str, *, active: bool = True) -> int:
    with app.app_context(), db.session.begin():
        return people.create_person(
            db.session, email=email, name="Locked", role="member", active=active
        ).id


def _locks(statements: list[str]) -> int:
    """The person locks sent (``_held_elsewhere``'s probe reads no ``active``)."""
    return sum(
        "person.active" in statement and "FOR NO KEY UPDATE" in statement
        for statement in statements
    )


def test_a_transaction_locks_each_person_once_and_reads_who_is_active(app: Flask) -> None:
    active, inactive = _person(app, "a@example.org"), _person(app, "i@example.org", active=False)
    with app.app_context(), counting(app) as statements, Session(db.engine(app)) as session:
        with session.begin():
            assert person_locks.lock_reading_active(session, [inactive, active]) == {active}
            person_locks.lock(session, [active, inactive])
            assert _locks(statements) == 1
        with session.begin():
            person_locks.lock(session, [active])
            assert _locks(statements) == 2


def test_a_rolled_back_savepoint_releases_its_locks_and_they_are_taken_again(
    app: Flask,
) -> None:
    person_id = _person(app, "s@example.org")
    with (
        app.app_context(),
        counting(app) as statements,
        Session(db.engine(app)) as session,
        session.begin(),
    ):
        savepoint = session.begin_nested()
        person_locks.lock(session, [person_id])
        savepoint.rollback()
        assert not _held_elsewhere(app, person_id)
        person_locks.lock(session, [person_id])
        assert _locks(statements) == 2
        assert _held_elsewhere(app, person_id)
        with session.begin_nested():
            person_locks.lock(session, [person_id])
        assert _locks(statements) == 2


def test_the_lock_makes_another_writer_wait_until_commit(app: Flask) -> None:
    person_id = _person(app, "w@example.org")
    engine = db.engine(app)
    locked = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with Session(engine) as session, session.begin():
            person_locks.lock(session, [person_id])
            locked.set()
            time.sleep(0.3)
            order.append("first commits")

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(timeout=10)
    with Session(engine) as session, session.begin():
        person_locks.lock(session, [person_id])
        order.append("second locks")
    thread.join(timeout=10)
    assert order == ["first commits", "second locks"]


def _held_elsewhere(app: Flask, person_id: int) -> bool:
    """Whether another connection finds the person's row locked against writers."""
    with db.engine(app).connect() as other, other.begin():
        return (
            other.execute(
                select(Person.id)
                .where(Person.id == person_id)
                .with_for_update(key_share=True, skip_locked=True)
            ).first()
            is None
        )
