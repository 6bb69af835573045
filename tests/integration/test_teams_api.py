"""The teams API: teams, members, targets, gap analysis, one ETag for the aggregate."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import Actor, MakeActor
from tests.integration.responses import assert_problem, data

TEAMS = "/api/v1/teams"


def with_etag(actor: Actor, etag: str) -> dict[str, str]:
    return {**actor.headers, "If-Match": etag}


def create_team(client: FlaskClient, admin: Actor, name: str = "Platform") -> int:
    response = client.post(TEAMS, json={"name": name}, headers=admin.headers)
    assert response.status_code == 201
    team_id: int = data(response)["id"]
    return team_id


def create_skill(client: FlaskClient, admin: Actor, name: str) -> int:
    response = client.post(
        "/api/v1/skills", json={"name": name, "category": "Engineering"}, headers=admin.headers
    )
    assert response.status_code == 201
    skill_id: int = data(response)["id"]
    return skill_id


def team_etag(client: FlaskClient, actor: Actor, team_id: int) -> str:
    response = client.get(f"{TEAMS}/{team_id}", headers=actor.headers)
    assert response.status_code == 200
    return response.headers["ETag"]


def add_member(
    client: FlaskClient, admin: Actor, team_id: int, person_id: int, *, is_manager: bool = False
) -> TestResponse:
    return client.post(
        f"{TEAMS}/{team_id}/members",
        json={"person_id": person_id, "is_manager": is_manager},
        headers=admin.headers,
    )


def put_targets(
    client: FlaskClient, actor: Actor, team_id: int, items: list[dict[str, Any]], etag: str
) -> TestResponse:
    return client.put(
        f"{TEAMS}/{team_id}/targets", json={"items": items}, headers=with_etag(actor, etag)
    )


def set_level(
    client: FlaskClient,
    admin: Actor,
    person_id: int,
    skill_id: int,
    level: int,
    expires_on: date | None = None,
) -> None:
    """Create or (``If-Match: *``) replace a proficiency as the admin."""
    body: dict[str, Any] = {"level": level}
    if expires_on is not None:
        body["expires_on"] = expires_on.isoformat()
    url = f"/api/v1/people/{person_id}/skills/{skill_id}"
    exists = client.get(url, headers=admin.headers).status_code == 200
    headers = with_etag(admin, "*") if exists else admin.headers
    response = client.put(url, json=body, headers=headers)
    assert response.status_code == (200 if exists else 201)


def gaps(client: FlaskClient, actor: Actor, team_id: int, query: str = "") -> list[Any]:
    response = client.get(f"{TEAMS}/{team_id}/gaps{query}", headers=actor.headers)
    assert response.status_code == 200
    items: list[Any] = data(response)["items"]
    return items


# Creating teams


def test_admin_creates_a_team_and_gets_its_etag(client: FlaskClient, admin: Actor) -> None:
    response = client.post(
        TEAMS, json={"name": "  Platform  ", "description": "Runs things"}, headers=admin.headers
    )
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.json == {
        "id": data(response)["id"],
        "name": "Platform",
        "description": "Runs things",
    }
    fetched = client.get(f"{TEAMS}/{data(response)['id']}", headers=admin.headers)
    assert fetched.headers["ETag"] == '"1"'
    assert data(fetched)["name"] == "Platform"


@pytest.mark.parametrize("taken", ["platform", "PLATFORM", " Platform "])
def test_duplicate_team_name_is_a_conflict_case_insensitively(
    client: FlaskClient, admin: Actor, taken: str
) -> None:
    create_team(client, admin)
    assert_problem(client.post(TEAMS, json={"name": taken}, headers=admin.headers), 409)
    listed = data(client.get(TEAMS, headers=admin.headers))
    assert listed["total"] == 1


def test_a_member_cannot_create_a_team(client: FlaskClient, member: Actor) -> None:
    assert_problem(client.post(TEAMS, json={"name": "Mine"}, headers=member.headers), 403)


def test_unknown_field_in_team_body_is_rejected(client: FlaskClient, admin: Actor) -> None:
    response = client.post(TEAMS, json={"name": "X", "budget": 5}, headers=admin.headers)
    assert "budget" in assert_problem(response, 422)["errors"]


# Members


def test_admin_adds_members_and_lists_them(
    client: FlaskClient, admin: Actor, make_actor: MakeActor
) -> None:
    team_id = create_team(client, admin)
    alice = make_actor("member", name="Alice")
    boss = make_actor("manager", name="Boss")
    assert add_member(client, admin, team_id, alice.person_id).status_code == 200
    added = add_member(client, admin, team_id, boss.person_id, is_manager=True)
    assert added.status_code == 200
    listed = client.get(f"{TEAMS}/{team_id}/members", headers=alice.headers)
    assert listed.status_code == 200
    assert data(listed)["items"] == [
        {"person_id": boss.person_id, "name": "Boss", "is_manager": True},
        {"person_id": alice.person_id, "name": "Alice", "is_manager": False},
    ]
    assert listed.headers["ETag"] == added.headers["ETag"] == team_etag(client, admin, team_id)


def test_adding_an_unknown_person_is_404(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    assert_problem(add_member(client, admin, team_id, 999_999), 404)


def test_member_cannot_add_members(client: FlaskClient, admin: Actor, member: Actor) -> None:
    team_id = create_team(client, admin)
    assert_problem(add_member(client, member, team_id, member.person_id), 403)


def test_removing_a_member_needs_if_match(client: FlaskClient, admin: Actor, member: Actor) -> None:
    team_id = create_team(client, admin)
    add_member(client, admin, team_id, member.person_id)
    response = client.delete(f"{TEAMS}/{team_id}/members/{member.person_id}", headers=admin.headers)
    assert_problem(response, 428)
    members = data(client.get(f"{TEAMS}/{team_id}/members", headers=admin.headers))
    assert [row["person_id"] for row in members["items"]] == [member.person_id]


def test_removing_a_member_with_a_stale_etag_is_412(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    stale = team_etag(client, admin, team_id)
    add_member(client, admin, team_id, member.person_id)
    response = client.delete(
        f"{TEAMS}/{team_id}/members/{member.person_id}", headers=with_etag(admin, stale)
    )
    assert_problem(response, 412)
    members = data(client.get(f"{TEAMS}/{team_id}/members", headers=admin.headers))
    assert len(members["items"]) == 1


def test_removing_a_member_with_the_current_etag_removes_them(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    etag = add_member(client, admin, team_id, member.person_id).headers["ETag"]
    response = client.delete(
        f"{TEAMS}/{team_id}/members/{member.person_id}", headers=with_etag(admin, etag)
    )
    assert response.status_code == 200
    assert response.json == {"items": []}
    assert response.headers["ETag"] != etag
    assert (
        data(client.get(f"/api/v1/people/{member.person_id}", headers=admin.headers))["teams"] == []
    )


def test_removing_someone_who_is_not_a_member_is_404(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    etag = team_etag(client, admin, team_id)
    response = client.delete(
        f"{TEAMS}/{team_id}/members/{member.person_id}", headers=with_etag(admin, etag)
    )
    assert_problem(response, 404)


# Targets


def test_targets_start_empty_with_the_team_etag(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    response = client.get(f"{TEAMS}/{team_id}/targets", headers=admin.headers)
    assert response.status_code == 200
    assert response.json == {"items": []}
    assert response.headers["ETag"] == team_etag(client, admin, team_id)


def test_targets_replace_with_the_current_etag(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    python, sql = create_skill(client, admin, "Python"), create_skill(client, admin, "SQL")
    etag = team_etag(client, admin, team_id)
    first = put_targets(client, admin, team_id, [{"skill_id": python, "level": 3}], etag)
    assert first.status_code == 200
    second = put_targets(
        client,
        admin,
        team_id,
        [{"skill_id": sql, "level": 2}, {"skill_id": python, "level": 4}],
        first.headers["ETag"],
    )
    assert second.status_code == 200
    expected = [
        {"skill_id": python, "skill_name": "Python", "level": 4},
        {"skill_id": sql, "skill_name": "SQL", "level": 2},
    ]
    assert second.json == {"items": expected}
    fetched = client.get(f"{TEAMS}/{team_id}/targets", headers=admin.headers)
    assert fetched.json == {"items": expected}
    assert fetched.headers["ETag"] == second.headers["ETag"]


def test_targets_replace_needs_if_match(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    response = client.put(
        f"{TEAMS}/{team_id}/targets",
        json={"items": [{"skill_id": python, "level": 3}]},
        headers=admin.headers,
    )
    assert_problem(response, 428)
    assert data(client.get(f"{TEAMS}/{team_id}/targets", headers=admin.headers)) == {"items": []}


def test_targets_replace_with_a_stale_etag_is_412(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    stale = team_etag(client, admin, team_id)
    put_targets(client, admin, team_id, [{"skill_id": python, "level": 3}], stale)
    response = put_targets(client, admin, team_id, [{"skill_id": python, "level": 5}], stale)
    assert_problem(response, 412)
    targets = data(client.get(f"{TEAMS}/{team_id}/targets", headers=admin.headers))
    assert [item["level"] for item in targets["items"]] == [3]


def test_a_skill_twice_in_targets_is_422(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    items = [{"skill_id": python, "level": 3}, {"skill_id": python, "level": 4}]
    response = put_targets(client, admin, team_id, items, team_etag(client, admin, team_id))
    assert "items" in assert_problem(response, 422)["errors"]
    assert data(client.get(f"{TEAMS}/{team_id}/targets", headers=admin.headers)) == {"items": []}


def test_an_unknown_skill_in_targets_is_422(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    items = [{"skill_id": 424_242, "level": 3}]
    response = put_targets(client, admin, team_id, items, team_etag(client, admin, team_id))
    problem = assert_problem(response, 422)
    assert any("424242" in message for message in problem["errors"]["items"])


def test_a_target_level_of_6_is_422_naming_the_field(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    items = [{"skill_id": python, "level": 6}]
    response = put_targets(client, admin, team_id, items, team_etag(client, admin, team_id))
    assert "items.0.level" in assert_problem(response, 422)["errors"]


def test_an_unknown_field_in_a_target_is_422(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    items = [{"skill_id": python, "level": 3, "weight": 2}]
    response = put_targets(client, admin, team_id, items, team_etag(client, admin, team_id))
    assert "items.0.weight" in assert_problem(response, 422)["errors"]


def test_a_manager_of_the_team_may_set_its_targets(
    client: FlaskClient, admin: Actor, make_actor: MakeActor
) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    manager = make_actor("manager")
    add_member(client, admin, team_id, manager.person_id, is_manager=True)
    etag = team_etag(client, manager, team_id)
    response = put_targets(client, manager, team_id, [{"skill_id": python, "level": 3}], etag)
    assert response.status_code == 200
    assert data(response)["items"][0]["level"] == 3


def test_a_manager_of_another_team_may_not_set_targets(
    client: FlaskClient, admin: Actor, make_actor: MakeActor
) -> None:
    team_id = create_team(client, admin)
    other_team = create_team(client, admin, "Payments")
    python = create_skill(client, admin, "Python")
    manager = make_actor("manager")
    add_member(client, admin, other_team, manager.person_id, is_manager=True)
    etag = team_etag(client, manager, team_id)
    response = put_targets(client, manager, team_id, [{"skill_id": python, "level": 3}], etag)
    assert_problem(response, 403)
    assert data(client.get(f"{TEAMS}/{team_id}/targets", headers=admin.headers)) == {"items": []}


def test_a_manager_who_is_a_plain_member_may_not_set_targets(
    client: FlaskClient, admin: Actor, make_actor: MakeActor
) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    manager = make_actor("manager")
    add_member(client, admin, team_id, manager.person_id, is_manager=False)
    etag = team_etag(client, manager, team_id)
    response = put_targets(client, manager, team_id, [{"skill_id": python, "level": 3}], etag)
    assert_problem(response, 403)


def test_a_member_may_not_set_targets_even_of_their_own_team(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    add_member(client, admin, team_id, member.person_id, is_manager=True)
    etag = team_etag(client, member, team_id)
    response = put_targets(client, member, team_id, [{"skill_id": python, "level": 3}], etag)
    assert_problem(response, 403)


def test_targets_of_an_unknown_team_are_404(client: FlaskClient, admin: Actor) -> None:
    assert_problem(put_targets(client, admin, 999_999, [], "*"), 404)


# Gap analysis


@pytest.fixture
def staffed_team(client: FlaskClient, admin: Actor, make_actor: MakeActor) -> dict[str, int]:
    """Target Python 3 and SQL 2; four members at 4, 3, 1 and none in Python."""
    team_id = create_team(client, admin)
    python, sql = create_skill(client, admin, "Python"), create_skill(client, admin, "SQL")
    above, at, below, without = (make_actor("member") for _ in range(4))
    for person in (above, at, below, without):
        add_member(client, admin, team_id, person.person_id)
    set_level(client, admin, above.person_id, python, 4)
    set_level(client, admin, at.person_id, python, 3)
    set_level(client, admin, below.person_id, python, 1)
    set_level(client, admin, above.person_id, sql, 2)
    items = [{"skill_id": python, "level": 3}, {"skill_id": sql, "level": 2}]
    put_targets(client, admin, team_id, items, team_etag(client, admin, team_id))
    return {"team_id": team_id, "python": python, "sql": sql, "below": below.person_id}


def test_gaps_count_members_at_or_above_target_and_the_shortfall(
    client: FlaskClient, admin: Actor, staffed_team: dict[str, int]
) -> None:
    found = gaps(client, admin, staffed_team["team_id"])
    assert found == [
        {
            "skill_id": staffed_team["python"],
            "skill_name": "Python",
            "target_level": 3,
            "members": 4,
            "meeting_target": 2,
            "shortfall": 2,
            "missing_levels": (3 - 1) + (3 - 0),
        },
        {
            "skill_id": staffed_team["sql"],
            "skill_name": "SQL",
            "target_level": 2,
            "members": 4,
            "meeting_target": 1,
            "shortfall": 3,
            "missing_levels": 2 * 3,
        },
    ]


def test_gaps_are_readable_by_the_teams_managers_even_with_a_read_only_token(
    client: FlaskClient, admin: Actor, make_actor: MakeActor, staffed_team: dict[str, int]
) -> None:
    manager = make_actor("manager", scopes=("read",))
    add_member(client, admin, staffed_team["team_id"], manager.person_id, is_manager=True)
    assert len(gaps(client, manager, staffed_team["team_id"])) == 2


@pytest.mark.parametrize(
    ("role", "in_team"),
    [("viewer", False), ("member", False), ("member", True), ("manager", False)],
)
def test_gaps_are_refused_to_whoever_does_not_manage_the_team(
    client: FlaskClient,
    admin: Actor,
    make_actor: MakeActor,
    staffed_team: dict[str, int],
    role: str,
    in_team: bool,
) -> None:
    other = make_actor(role)
    if in_team:
        add_member(client, admin, staffed_team["team_id"], other.person_id)
    response = client.get(f"{TEAMS}/{staffed_team['team_id']}/gaps", headers=other.headers)
    assert_problem(response, 403)


def test_an_expired_certification_does_not_close_a_gap(
    client: FlaskClient, admin: Actor, staffed_team: dict[str, int]
) -> None:
    yesterday = date.today() - timedelta(days=1)
    set_level(client, admin, staffed_team["below"], staffed_team["python"], 5, yesterday)
    python = gaps(client, admin, staffed_team["team_id"])[0]
    assert (python["meeting_target"], python["shortfall"], python["missing_levels"]) == (2, 2, 6)


def test_an_expired_certification_counts_when_include_expired_is_true(
    client: FlaskClient, admin: Actor, staffed_team: dict[str, int]
) -> None:
    yesterday = date.today() - timedelta(days=1)
    set_level(client, admin, staffed_team["below"], staffed_team["python"], 5, yesterday)
    python = gaps(client, admin, staffed_team["team_id"], "?include_expired=true")[0]
    assert (python["meeting_target"], python["shortfall"], python["missing_levels"]) == (3, 1, 3)


def test_a_certification_expiring_later_counts(
    client: FlaskClient, admin: Actor, staffed_team: dict[str, int]
) -> None:
    next_month = date.today() + timedelta(days=30)
    set_level(client, admin, staffed_team["below"], staffed_team["python"], 3, next_month)
    python = gaps(client, admin, staffed_team["team_id"])[0]
    assert (python["meeting_target"], python["shortfall"]) == (3, 1)


def test_gaps_of_a_team_without_members_show_no_one_meeting_and_no_shortfall(
    client: FlaskClient, admin: Actor
) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    put_targets(
        client,
        admin,
        team_id,
        [{"skill_id": python, "level": 3}],
        team_etag(client, admin, team_id),
    )
    assert gaps(client, admin, team_id) == [
        {
            "skill_id": python,
            "skill_name": "Python",
            "target_level": 3,
            "members": 0,
            "meeting_target": 0,
            "shortfall": 0,
            "missing_levels": 0,
        }
    ]


def test_gaps_of_a_team_without_targets_are_empty(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    add_member(client, admin, team_id, member.person_id)
    assert gaps(client, admin, team_id) == []


def test_gaps_ignore_people_outside_the_team(
    client: FlaskClient, admin: Actor, make_actor: MakeActor, staffed_team: dict[str, int]
) -> None:
    outsider = make_actor("member")
    set_level(client, admin, outsider.person_id, staffed_team["python"], 5)
    python = gaps(client, admin, staffed_team["team_id"])[0]
    assert (python["members"], python["meeting_target"]) == (4, 2)


def test_gaps_of_an_unknown_team_are_404(client: FlaskClient, admin: Actor) -> None:
    assert_problem(client.get(f"{TEAMS}/999999/gaps", headers=admin.headers), 404)


# One ETag guards the whole aggregate


def test_adding_a_member_changes_the_team_etag_so_a_stale_writer_gets_412(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    before = team_etag(client, admin, team_id)
    add_member(client, admin, team_id, member.person_id)
    assert team_etag(client, admin, team_id) != before
    stale = client.patch(
        f"{TEAMS}/{team_id}", json={"description": "late"}, headers=with_etag(admin, before)
    )
    assert_problem(stale, 412)


def test_making_a_member_a_manager_changes_the_team_etag(
    client: FlaskClient, admin: Actor, make_actor: MakeActor
) -> None:
    team_id = create_team(client, admin)
    manager = make_actor("manager")
    add_member(client, admin, team_id, manager.person_id)
    before = team_etag(client, admin, team_id)
    add_member(client, admin, team_id, manager.person_id, is_manager=True)
    assert team_etag(client, admin, team_id) != before
    assert_problem(put_targets(client, admin, team_id, [], before), 412)


def test_removing_a_member_changes_the_team_etag_so_a_stale_writer_gets_412(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    before = add_member(client, admin, team_id, member.person_id).headers["ETag"]
    client.delete(f"{TEAMS}/{team_id}/members/{member.person_id}", headers=with_etag(admin, before))
    assert team_etag(client, admin, team_id) != before
    assert_problem(put_targets(client, admin, team_id, [], before), 412)


def test_replacing_targets_changes_the_team_etag_so_a_stale_writer_gets_412(
    client: FlaskClient, admin: Actor, member: Actor
) -> None:
    team_id = create_team(client, admin)
    python = create_skill(client, admin, "Python")
    add_member(client, admin, team_id, member.person_id)
    before = team_etag(client, admin, team_id)
    put_targets(client, admin, team_id, [{"skill_id": python, "level": 2}], before)
    assert team_etag(client, admin, team_id) != before
    stale = client.delete(
        f"{TEAMS}/{team_id}/members/{member.person_id}", headers=with_etag(admin, before)
    )
    assert_problem(stale, 412)


def test_renaming_the_team_changes_the_etag_for_targets(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    before = team_etag(client, admin, team_id)
    renamed = client.patch(
        f"{TEAMS}/{team_id}", json={"name": "Core"}, headers=with_etag(admin, before)
    )
    assert renamed.status_code == 200
    assert renamed.headers["ETag"] != before
    assert_problem(put_targets(client, admin, team_id, [], before), 412)


def test_a_failed_write_does_not_change_the_etag(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    before = team_etag(client, admin, team_id)
    put_targets(client, admin, team_id, [{"skill_id": 31337, "level": 2}], before)
    assert team_etag(client, admin, team_id) == before


# Query strings


@pytest.mark.parametrize(
    "path",
    ["{teams}?colour=red", "{teams}/{team_id}/gaps?verbose=1", "{teams}?limit=500"],
)
def test_unknown_or_invalid_query_parameters_are_422(
    client: FlaskClient, admin: Actor, path: str
) -> None:
    team_id = create_team(client, admin)
    url = path.format(teams=TEAMS, team_id=team_id)
    assert assert_problem(client.get(url, headers=admin.headers), 422)["errors"]


def test_include_expired_must_be_a_boolean(client: FlaskClient, admin: Actor) -> None:
    team_id = create_team(client, admin)
    response = client.get(f"{TEAMS}/{team_id}/gaps?include_expired=maybe", headers=admin.headers)
    assert "include_expired" in assert_problem(response, 422)["errors"]
