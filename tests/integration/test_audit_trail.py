"""The audit trail: every change recorded with its transaction, chained, verifiable."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from skills_service.cli import cli
from skills_service.extensions import db
from skills_service.models import AuditEvent, AuditHead, Person
from skills_service.services import audit, teams
from tests.conftest import PASSWORD, Actor, MakeActor
from tests.integration.browser import page_text, set_password, sign_in, signed_in
from tests.integration.responses import assert_problem, data
from tests.integration.world import World, build_world


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


def all_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def events_since(app: Flask, seq: int) -> list[AuditEvent]:
    return [event for event in all_events(app) if event.seq > seq]


def last_seq(app: Flask) -> int:
    events = all_events(app)
    return events[-1].seq if events else 0


def verification(app: Flask) -> audit.Verification:
    with app.app_context():
        session = db.session
        with session.begin():
            return audit.verify(session)


@contextmanager
def tampering(app: Flask) -> Iterator[Connection]:
    """A connection that may change the trail (on PostgreSQL: triggers off, as superuser)."""
    engine = db.engine(app)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        yield connection


def put_level(
    client: FlaskClient, actor: Actor, skill_id: int, level: int, etag: str | None
) -> Any:
    headers = {**actor.headers, **({"If-Match": etag} if etag else {})}
    return client.put(
        f"/api/v1/people/{actor.person_id}/skills/{skill_id}",
        json={"level": level, "note": "n"},
        headers=headers,
    )


def test_a_change_is_recorded_with_who_what_before_after_where_and_request_id(
    app: Flask, client: FlaskClient, world: World
) -> None:
    start = last_seq(app)
    created = put_level(client, world.member, world.skill_id, 2, None)
    assert created.status_code == 201
    updated = put_level(client, world.member, world.skill_id, 4, created.headers["ETag"])
    assert updated.status_code == 200

    first, second = [e for e in events_since(app, start) if e.target_type == "proficiency"]
    key = f"{world.member.person_id}/{world.skill_id}"
    assert (first.action, first.target_type, first.target_id) == (
        "proficiency.created",
        "proficiency",
        key,
    )
    assert first.before is None
    assert first.after is not None and first.after["level"] == 2
    assert first.request_id == created.headers["X-Request-ID"]
    assert (second.action, second.before, second.after) == (
        "proficiency.updated",
        {"level": 2},
        {"level": 4},
    )
    for event in (first, second):
        assert event.actor_id == world.member.person_id
        assert event.credential == "token"
        assert event.address == "127.0.0.1"
    assert second.request_id == updated.headers["X-Request-ID"]


def test_a_refused_or_failed_change_writes_no_event(
    app: Flask, client: FlaskClient, world: World
) -> None:
    created = put_level(client, world.member, world.skill_id, 2, None)
    start = last_seq(app)
    assert put_level(client, world.member, world.skill_id, 3, '"99"').status_code == 412
    assert (
        put_level(client, world.member, world.skill_id, 9, created.headers["ETag"]).status_code
        == 422
    )
    assert [e.action for e in events_since(app, start) if e.target_type == "proficiency"] == []


def test_a_refused_request_is_recorded_in_a_transaction_of_its_own(
    app: Flask, client: FlaskClient, world: World
) -> None:
    start = last_seq(app)
    response = put_level(client, world.member, world.skill_id, 2, None)
    assert response.status_code == 201
    other = client.put(
        f"/api/v1/people/{world.subject.person_id}/skills/{world.skill_id}",
        json={"level": 1},
        headers={**world.member.headers, "If-Match": '"1"'},
    )
    assert_problem(other, 403)
    refusal = events_since(app, start)[-1]
    assert refusal.action == "request.refused"
    assert refusal.actor_id == world.member.person_id
    assert refusal.target_id == "proficiencies.put_proficiency"
    assert refusal.after is not None and refusal.after["method"] == "PUT"
    assert refusal.request_id == other.headers["X-Request-ID"]


def test_sign_in_successes_and_failures_are_recorded_without_the_password(
    app: Flask, world: World
) -> None:
    set_password(app, world.member.person_id, PASSWORD)
    start = last_seq(app)
    browser = app.test_client()
    assert sign_in(browser, world.member.email, "not the password at all").status_code == 401
    assert sign_in(browser, "nobody@example.org", PASSWORD).status_code == 401
    assert sign_in(browser, world.member.email, PASSWORD).status_code == 302

    events = [event for event in events_since(app, start) if event.action.startswith("login.")]
    assert [(event.action, event.target_id) for event in events] == [
        ("login.failed", str(world.member.person_id)),
        ("login.failed", None),
        ("login.succeeded", str(world.member.person_id)),
    ]
    assert events[0].after == {"method": "password", "reason": "wrong password"}
    assert events[1].after == {"method": "password", "reason": "unknown account"}
    assert all(event.address == "127.0.0.1" for event in events)
    stored = json.dumps([[event.before, event.after] for event in all_events(app)])
    assert PASSWORD not in stored and "not the password at all" not in stored


def test_secrets_are_recorded_as_changed_but_never_with_their_value(
    app: Flask, world: World
) -> None:
    browser = signed_in(app, world.member)
    start = last_seq(app)
    with app.app_context():
        stored_hash = db.session.get(Person, world.member.person_id).password_hash  # type: ignore[union-attr]
    assert (
        browser.post(
            f"/api/v1/people/{world.member.person_id}/password-reset", headers=world.admin.headers
        ).status_code
        == 200
    )
    reset = next(event for event in events_since(app, start) if event.action == "person.updated")
    assert reset.after is not None and reset.after["password_hash"] == audit.REDACTED
    assert reset.before is not None and reset.before["password_hash"] == audit.REDACTED
    everything = json.dumps([[event.before, event.after] for event in all_events(app)])
    assert stored_hash is not None and stored_hash not in everything
    assert "$argon2" not in everything
    with app.app_context():
        token_hashes = db.session.scalars(text("SELECT token_hash FROM api_token")).all()
    assert token_hashes and not any(token_hash in everything for token_hash in token_hashes)


def test_target_changes_are_recorded_one_by_one(app: Flask, world: World) -> None:
    start = last_seq(app)
    with app.app_context():
        session = db.session
        with session.begin():
            team = teams.get_team(session, world.team_id)
            teams.replace_targets(
                session,
                team_id=world.team_id,
                wanted=[(world.skill_id, 3)],
                if_match=f'"{team.version}"',
            )
        with session.begin():
            team = teams.get_team(session, world.team_id)
            teams.replace_targets(
                session,
                team_id=world.team_id,
                wanted=[(world.skill_id, 4)],
                if_match=f'"{team.version}"',
            )
        with session.begin():
            team = teams.get_team(session, world.team_id)
            teams.replace_targets(
                session, team_id=world.team_id, wanted=[], if_match=f'"{team.version}"'
            )
    changes = [
        (event.action, event.before, event.after)
        for event in events_since(app, start)
        if event.target_type == "team_target"
    ]
    assert [action for action, _, _ in changes] == [
        "team_target.created",
        "team_target.updated",
        "team_target.deleted",
    ]
    assert changes[1][1:] == ({"level": 3}, {"level": 4})


def test_the_chain_of_real_activity_verifies(
    app: Flask, client: FlaskClient, world: World, runner: FlaskCliRunner
) -> None:
    created = put_level(client, world.member, world.skill_id, 2, None)
    put_level(client, world.member, world.skill_id, 5, created.headers["ETag"])
    result = verification(app)
    assert result.intact, result.reason
    assert result.events == len(all_events(app)) > 3
    outcome = runner.invoke(cli, ["audit", "verify"])
    assert outcome.exit_code == 0, outcome.output
    assert f"intact: {result.events} events" in outcome.output


@pytest.fixture
def chained(app: Flask, client: FlaskClient, world: World) -> list[AuditEvent]:
    """A trail of several events, checked intact before it is tampered with."""
    etag = None
    for level in (1, 2, 3, 4):
        response = put_level(client, world.member, world.skill_id, level, etag)
        etag = response.headers["ETag"]
    assert verification(app).intact
    return all_events(app)


def assert_broken_at(app: Flask, runner: FlaskCliRunner, seq: int, reason: str) -> None:
    result = verification(app)
    assert (result.broken_at, result.reason) == (seq, reason)
    outcome = runner.invoke(cli, ["audit", "verify"])
    assert outcome.exit_code == 1
    assert f"audit trail broken at event {seq}: {reason}" in outcome.output


def test_verify_finds_an_edited_event(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    victim = chained[-3]
    with tampering(app) as connection:
        connection.execute(
            update(AuditEvent).where(AuditEvent.seq == victim.seq).values(after={"level": 5})
        )
    assert_broken_at(app, runner, victim.seq, "its content does not match its hash")


def test_verify_finds_an_edit_whose_hash_was_recomputed(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    victim = chained[-3]
    columns = {name: getattr(victim, name) for name in audit.HASHED_COLUMNS}
    columns["actor_id"] = None
    with tampering(app) as connection:
        connection.execute(
            update(AuditEvent)
            .where(AuditEvent.seq == victim.seq)
            .values(actor_id=None, hash=audit.event_hash(victim.prev_hash, columns))
        )
    assert_broken_at(app, runner, victim.seq + 1, "its link to the previous event does not match")


def test_verify_finds_a_deleted_event(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    victim = chained[-3]
    with tampering(app) as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.seq == victim.seq))
    assert_broken_at(app, runner, victim.seq, f"event {victim.seq} is missing")


def test_verify_finds_events_deleted_from_the_end(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    with tampering(app) as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.seq >= chained[-2].seq))
    assert_broken_at(
        app,
        runner,
        chained[-2].seq,
        f"the head names event {chained[-1].seq} but the chain ends at {chained[-3].seq}",
    )


def test_verify_finds_an_inserted_event(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    """A forged event in the middle: the events after it must move, and break."""
    victim = chained[-2]
    with tampering(app) as connection:
        connection.execute(
            update(AuditEvent).where(AuditEvent.seq >= victim.seq).values(seq=AuditEvent.seq + 1000)
        )
        forged = {name: getattr(victim, name) for name in audit.HASHED_COLUMNS}
        forged["action"] = "person.deleted"
        connection.execute(
            insert(AuditEvent).values(
                **forged,
                prev_hash=victim.prev_hash,
                hash=audit.event_hash(victim.prev_hash, forged),
            )
        )
    assert_broken_at(app, runner, victim.seq + 1, f"event {victim.seq + 1} is missing")


def test_verify_finds_reordered_events(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    first, second = chained[-3], chained[-2]
    with tampering(app) as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.seq == first.seq).values(seq=-1))
        connection.execute(
            update(AuditEvent).where(AuditEvent.seq == second.seq).values(seq=first.seq)
        )
        connection.execute(update(AuditEvent).where(AuditEvent.seq == -1).values(seq=second.seq))
    assert_broken_at(app, runner, first.seq, "its link to the previous event does not match")


def test_verify_finds_a_missing_head(
    app: Flask, runner: FlaskCliRunner, chained: list[AuditEvent]
) -> None:
    with tampering(app) as connection:
        connection.execute(delete(AuditHead))
    assert_broken_at(app, runner, 0, "the head row is missing")


def test_concurrent_writers_extend_one_unbroken_chain(
    app: Flask, make_actor: MakeActor, world: World
) -> None:
    writers = [make_actor("member") for _ in range(6)]
    errors: list[str] = []
    barrier = threading.Barrier(len(writers))

    def write(actor: Actor) -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        etag = None
        for level in (1, 2, 3):
            response = put_level(client, actor, world.skill_id, level, etag)
            if response.status_code not in (200, 201):
                errors.append(response.get_data(as_text=True))
                return
            etag = response.headers["ETag"]

    threads = [threading.Thread(target=write, args=(actor,)) for actor in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    result = verification(app)
    assert result.intact, result.reason
    written = [event for event in all_events(app) if event.target_type == "proficiency"]
    assert len(written) == 1 + 3 * len(writers)
    assert [event.seq for event in all_events(app)] == list(range(1, result.events + 1))


def test_the_application_cannot_change_or_remove_events_on_postgresql(
    app: Flask, chained: list[AuditEvent]
) -> None:
    engine = db.engine(app)
    if engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    statements = (
        update(AuditEvent).values(action="edited"),
        delete(AuditEvent),
        text("TRUNCATE audit_event"),
    )
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(statement)
    assert len(all_events(app)) == len(chained)


def test_the_api_lists_events_newest_first_with_filters(
    app: Flask, client: FlaskClient, world: World
) -> None:
    created = put_level(client, world.member, world.skill_id, 2, None)
    put_level(client, world.member, world.skill_id, 3, created.headers["ETag"])
    listed = data(
        client.get(
            "/api/v1/audit",
            query_string={"action": "proficiency.", "actor_id": world.member.person_id},
            headers=world.admin.headers,
        )
    )
    assert [item["action"] for item in listed["items"]] == [
        "proficiency.updated",
        "proficiency.created",
    ]
    assert listed["total"] == 2
    assert listed["items"][0]["before"] == {"level": 2}
    paged = data(client.get("/api/v1/audit?limit=1&page=2", headers=world.admin.headers))
    assert len(paged["items"]) == 1 and paged["total"] == last_seq(app)
    target = data(
        client.get(
            "/api/v1/audit",
            query_string={
                "target_type": "proficiency",
                "target_id": f"{world.member.person_id}/{world.skill_id}",
            },
            headers=world.admin.headers,
        )
    )
    assert target["total"] == 2


@pytest.mark.parametrize(
    "query",
    [
        {"action": "person'; DROP TABLE audit_event; --"},
        {"actor_id": "one"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"limit": "500"},
        {"colour": "blue"},
    ],
)
def test_bad_audit_filters_are_422_naming_the_parameter(
    client: FlaskClient, world: World, query: dict[str, str]
) -> None:
    body = assert_problem(
        client.get("/api/v1/audit", query_string=query, headers=world.admin.headers), 422
    )
    assert set(query) <= set(body["errors"]) | {"colour"}


@pytest.mark.parametrize("role", ["viewer", "member", "manager"])
def test_only_administrators_read_the_audit_trail(
    client: FlaskClient, world: World, role: str
) -> None:
    assert_problem(client.get("/api/v1/audit", headers=world.by_role(role).headers), 403)


def test_the_admin_page_shows_events_as_text(app: Flask, client: FlaskClient, world: World) -> None:
    payload = "<img src=x onerror=alert(1)>"
    response = client.put(
        f"/api/v1/people/{world.member.person_id}/skills/{world.skill_id}",
        json={"level": 2, "note": payload},
        headers=world.member.headers,
    )
    assert response.status_code == 201
    browser = signed_in(app, world.admin)
    page = page_text(browser, "/admin/audit?action=proficiency.created")
    assert "proficiency.created" in page
    assert payload not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page_text(browser, "/admin/audit?actor=abc", status=400)


def test_a_tokens_use_is_recorded_with_its_owner_as_actor(
    app: Flask, client: FlaskClient, make_actor: MakeActor
) -> None:
    actor = make_actor("member")
    start = last_seq(app)
    assert client.get("/api/v1/me", headers=actor.headers).status_code == 200
    assert client.get("/api/v1/me", headers=actor.headers).status_code == 200
    used = [event for event in events_since(app, start) if event.target_type == "api_token"]
    assert len(used) == 1, "recorded once per resolution window, not per request"
    assert used[0].action == "api_token.updated"
    assert used[0].after is not None and set(used[0].after) == {"last_used_at"}
    assert (used[0].actor_id, used[0].credential) == (actor.person_id, "token")
