"""Proficiencies: own edits only, manager verification, privacy, history, expiry."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Actor, MakeActor
from tests.integration.world import World, build_world


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


def url(person: Actor, skill_id: int, suffix: str = "") -> str:
    return f"/api/v1/people/{person.person_id}/skills/{skill_id}{suffix}"


def put(
    client: FlaskClient,
    actor: Actor,
    owner: Actor,
    skill_id: int,
    body: dict[str, Any],
    etag: str | None = None,
) -> Any:
    headers = {**actor.headers, **({"If-Match": etag} if etag else {})}
    return client.put(url(owner, skill_id), json=body, headers=headers)


def test_a_member_creates_their_own_proficiency(client: FlaskClient, world: World) -> None:
    response = put(
        client,
        world.member,
        world.member,
        world.skill_id,
        {"level": 4, "interested": True, "note": "since 2019"},
    )
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.json["level"] == 4
    assert response.json["verified_by"] is None


def test_replacing_needs_if_match_and_a_stale_one_is_412(client: FlaskClient, world: World) -> None:
    me = world.member
    put(client, me, me, world.skill_id, {"level": 2})
    assert put(client, me, me, world.skill_id, {"level": 3}).status_code == 428
    assert put(client, me, me, world.skill_id, {"level": 3}, '"1"').status_code == 200
    assert put(client, me, me, world.skill_id, {"level": 5}, '"1"').status_code == 412
    current = client.get(url(me, world.skill_id), headers=me.headers)
    assert current.json["level"] == 3
    assert current.headers["ETag"] == '"2"'


def test_if_none_match_star_only_creates(client: FlaskClient, world: World) -> None:
    me = world.member
    headers = {**me.headers, "If-None-Match": "*"}
    first = client.put(url(me, world.skill_id), json={"level": 2}, headers=headers)
    assert first.status_code == 201
    again = client.put(url(me, world.skill_id), json={"level": 3}, headers=headers)
    assert again.status_code == 412


def test_member_cannot_edit_someone_elses_proficiency(client: FlaskClient, world: World) -> None:
    response = put(client, world.member, world.subject, world.skill_id, {"level": 1}, '"1"')
    assert response.status_code == 403
    deleted = client.delete(
        url(world.subject, world.skill_id), headers={**world.member.headers, "If-Match": '"1"'}
    )
    assert deleted.status_code == 403
    still = client.get(url(world.subject, world.skill_id), headers=world.admin.headers)
    assert still.json["level"] == 3


def test_a_manager_cannot_edit_a_team_members_level(client: FlaskClient, world: World) -> None:
    response = put(client, world.manager, world.subject, world.skill_id, {"level": 5}, '"1"')
    assert response.status_code == 403


def test_a_viewer_cannot_edit_even_their_own(client: FlaskClient, world: World) -> None:
    assert put(client, world.viewer, world.viewer, world.skill_id, {"level": 2}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"level": 0}, "level"),
        ({"level": 6}, "level"),
        ({"level": "3"}, "level"),
        ({"level": 2.5}, "level"),
        ({}, "level"),
        ({"level": 3, "note": "n" * 1001}, "note"),
        ({"level": 3, "expires_on": "31/12/2027"}, "expires_on"),
        ({"level": 3, "verified_by": 1}, "verified_by"),
    ],
)
def test_invalid_proficiency_is_rejected_naming_the_field(
    client: FlaskClient, world: World, body: dict[str, Any], field: str
) -> None:
    response = put(client, world.member, world.member, world.skill_id, body)
    assert response.status_code == 422
    assert field in response.json["errors"]
    listed = client.get(
        f"/api/v1/people/{world.member.person_id}/skills", headers=world.member.headers
    )
    assert listed.json["total"] == 0


def test_unknown_skill_or_person_is_404(client: FlaskClient, world: World) -> None:
    assert put(client, world.admin, world.member, 9999, {"level": 3}).status_code == 404
    missing = client.put(
        "/api/v1/people/9999/skills/1", json={"level": 3}, headers=world.admin.headers
    )
    assert missing.status_code == 404


def test_a_manager_verifies_a_member_of_their_team(client: FlaskClient, world: World) -> None:
    response = client.post(
        url(world.subject, world.skill_id, "/verification"), headers=world.manager.headers
    )
    assert response.status_code == 200
    assert response.json["verified_by"] == world.manager.person_id
    assert response.json["verified_at"] is not None


def test_a_manager_cannot_verify_outside_their_teams(client: FlaskClient, world: World) -> None:
    put(client, world.member, world.member, world.skill_id, {"level": 3})
    response = client.post(
        url(world.member, world.skill_id, "/verification"), headers=world.manager.headers
    )
    assert response.status_code == 403


def test_nobody_verifies_themselves(client: FlaskClient, world: World) -> None:
    put(client, world.admin, world.admin, world.skill_id, {"level": 3})
    response = client.post(
        url(world.admin, world.skill_id, "/verification"), headers=world.admin.headers
    )
    assert response.status_code == 403


def test_changing_the_level_makes_it_self_assessed_again(client: FlaskClient, world: World) -> None:
    verified = client.post(
        url(world.subject, world.skill_id, "/verification"), headers=world.manager.headers
    )
    etag = verified.headers["ETag"]
    note_only = put(
        client,
        world.subject,
        world.subject,
        world.skill_id,
        {"level": 3, "note": "still true"},
        etag,
    )
    assert note_only.json["verified_by"] == world.manager.person_id
    changed = put(
        client,
        world.subject,
        world.subject,
        world.skill_id,
        {"level": 4},
        note_only.headers["ETag"],
    )
    assert changed.json["verified_by"] is None
    assert changed.json["verified_at"] is None


def test_verification_can_be_withdrawn_with_if_match(client: FlaskClient, world: World) -> None:
    verified = client.post(
        url(world.subject, world.skill_id, "/verification"), headers=world.manager.headers
    )
    target = url(world.subject, world.skill_id, "/verification")
    assert client.delete(target, headers=world.manager.headers).status_code == 428
    withdrawn = client.delete(
        target, headers={**world.manager.headers, "If-Match": verified.headers["ETag"]}
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json["verified_by"] is None


def test_private_note_is_hidden_from_viewers_and_strangers(
    client: FlaskClient, world: World
) -> None:
    for stranger in (world.viewer, world.member):
        body = client.get(url(world.subject, world.skill_id), headers=stranger.headers).json
        assert body["note"] is None
        person = client.get(
            f"/api/v1/people/{world.subject.person_id}", headers=stranger.headers
        ).json
        assert person["email"] is None


def test_private_fields_are_shown_to_self_manager_and_admin(
    client: FlaskClient, world: World
) -> None:
    for insider in (world.subject, world.manager, world.admin):
        body = client.get(url(world.subject, world.skill_id), headers=insider.headers).json
        assert body["note"] == "private note"
        person = client.get(
            f"/api/v1/people/{world.subject.person_id}", headers=insider.headers
        ).json
        assert person["email"] == world.subject.email


def test_every_change_is_kept_in_history(client: FlaskClient, world: World) -> None:
    me = world.member
    first = put(client, me, me, world.skill_id, {"level": 2})
    second = put(client, me, me, world.skill_id, {"level": 3}, first.headers["ETag"])
    client.delete(
        url(me, world.skill_id), headers={**me.headers, "If-Match": second.headers["ETag"]}
    )
    history = client.get(f"/api/v1/people/{me.person_id}/history", headers=me.headers).json
    assert [(item["action"], item["level"]) for item in history["items"]] == [
        ("delete", None),
        ("set", 3),
        ("set", 2),
    ]
    assert all(item["changed_by"] == me.person_id for item in history["items"])


def test_an_expired_certification_stays_visible_marked_expired(
    client: FlaskClient, world: World
) -> None:
    me = world.member
    past = (date.today() - timedelta(days=3)).isoformat()
    put(client, me, me, world.skill_id, {"level": 4, "expires_on": past})
    body = client.get(f"/api/v1/people/{me.person_id}/skills", headers=me.headers).json
    assert body["items"][0]["expired"] is True


def test_expiring_within_90_days_is_listed_for_the_person(
    client: FlaskClient, world: World
) -> None:
    me = world.member
    soon = (date.today() + timedelta(days=30)).isoformat()
    put(client, me, me, world.skill_id, {"level": 4, "expires_on": soon})
    body = client.get(f"/api/v1/people/{me.person_id}/skills", headers=me.headers).json
    assert body["expiring_soon"] == [world.skill_id]
    assert body["items"][0]["expired"] is False


def test_two_writers_with_the_same_etag_do_not_both_win(client: FlaskClient, world: World) -> None:
    owner = world.subject
    results = [
        put(client, owner, owner, world.skill_id, {"level": level}, '"1"').status_code
        for level in (4, 5)
    ]
    assert results == [200, 412]
