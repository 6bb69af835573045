"""Replacing a proficiency: concurrent writers never both win, and a failed write leaves nothing.

Two transactions, each on its own connection, replace the same proficiency with the
same ETag. The first has written its row and holds it when the second reads the row;
the second must then lose (its version no longer matches), whichever of the two checks
catches it, and the loser must leave no history row and no audit event behind.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm.exc import StaleDataError

from skills_service.errors import PreconditionFailed
from skills_service.extensions import db
from skills_service.models import AuditEvent, AuditHead, Proficiency, ProficiencyChange
from skills_service.services import audit, proficiencies
from skills_service.services.proficiencies import ProficiencyInput
from tests.conftest import MakeActor
from tests.integration.world import World, build_world

HOLD_SECONDS = 0.5
"""How long the first writer keeps its transaction open after writing its row."""


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


def replace_level(app: Flask, world: World, level: int, *, hold: threading.Event | None) -> None:
    """Replace the subject's proficiency with ETag "1"; with ``hold``, signal and wait first."""
    with app.app_context():
        session = db.session
        with session.begin():
            proficiencies.upsert_proficiency(
                session,
                person_id=world.subject.person_id,
                skill_id=world.skill_id,
                data=ProficiencyInput(level=level, note="private note"),
                actor_id=world.subject.person_id,
                if_match='"1"',
            )
            if hold is not None:
                hold.set()
                time.sleep(HOLD_SECONDS)


def written(app: Flask, world: World) -> tuple[int, int, int, int]:
    """The proficiency's level and version, its history rows and its audit events."""
    target = f"{world.subject.person_id}/{world.skill_id}"
    with app.app_context():
        session = db.session
        proficiency = session.get(Proficiency, (world.subject.person_id, world.skill_id))
        assert proficiency is not None
        changes = session.scalar(
            select(func.count())
            .select_from(ProficiencyChange)
            .where(ProficiencyChange.person_id == world.subject.person_id)
        )
        events = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.target_id == target)
        )
        return proficiency.level, proficiency.version, changes or 0, events or 0


def test_two_concurrent_writers_with_one_etag_never_both_win(app: Flask, world: World) -> None:
    _, _, changes_before, events_before = written(app, world)
    first_wrote = threading.Event()
    first_errors: list[BaseException] = []

    def first() -> None:
        try:
            replace_level(app, world, 4, hold=first_wrote)
        except BaseException as error:  # reported by the assertion below
            first_errors.append(error)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_wrote.wait(timeout=10)
    with pytest.raises((PreconditionFailed, StaleDataError)):
        replace_level(app, world, 5, hold=None)
    thread.join(timeout=30)
    assert first_errors == []
    assert written(app, world) == (4, 2, changes_before + 1, events_before + 1)
    with app.app_context():
        assert audit.verify(db.session).intact


def test_a_replacement_whose_audit_event_cannot_be_written_leaves_nothing_behind(
    app: Flask, client: FlaskClient, world: World
) -> None:
    before = written(app, world)
    with db.engine(app).begin() as connection:
        connection.execute(delete(AuditHead))
    response = client.put(
        f"/api/v1/people/{world.subject.person_id}/skills/{world.skill_id}",
        json={"level": 5},
        headers={**world.subject.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 500
    assert written(app, world) == before
