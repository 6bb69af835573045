"""Every registered route x every role behaves as the policy table says."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from skills_service import policy
from skills_service.policy import Action, PersonTarget, Principal, Role, TeamTarget
from skills_service.security.problems import MACHINE_PATHS
from tests.conftest import MakeActor
from tests.integration.world import World, build_world

ROLES = ["viewer", "member", "manager", "admin"]
SAMPLE_BODIES: dict[str, Any] = {
    "skills.create_skill": {"name": "Rust", "category": "Languages"},
    "skills.update_skill": {"description": "updated"},
    "people.create_person": {"email": "new.person@example.org", "name": "New Person"},
    "people.update_person": {"name": "Renamed Person"},
    "proficiencies.put_proficiency": {"level": 4},
    "teams.create_team": {"name": "Payments"},
    "teams.update_team": {"description": "updated"},
    "teams.add_member": {"person_id": 1},
    "teams.put_targets": {"items": []},
}


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every registered route, HEAD/OPTIONS aside."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    # Writes last and deletes at the very end, so the world survives the walk.
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    return sorted(found, key=lambda item: (order[item[1]], item[2]))


def _path(rule: str, world: World) -> str:
    values = {
        "person_id": world.subject.person_id,
        "skill_id": world.skill_id,
        "team_id": world.team_id,
        "token_id": 1,
        "filename": "api-docs.js",
        "name": "swagger-ui.css",
        "path": "overview",
        "package_name": "dash",
        "fingerprinted_path": "no-such-bundle.js",
    }
    path = rule
    for key, value in values.items():
        path = path.replace(f"<int:{key}>", str(value)).replace(f"<{key}>", str(value))
        path = path.replace(f"<path:{key}>", str(value)).replace(f"<string:{key}>", str(value))
    assert "<" not in path, f"no sample value for {rule}"
    return path


def _target(action: Action, rule: str, world: World) -> policy.Target:
    if "<int:person_id>" in rule and action in (
        Action.EDIT_PROFICIENCY,
        Action.VERIFY_PROFICIENCY,
        Action.READ_PRIVATE,
    ):
        return PersonTarget(world.subject.person_id, frozenset({world.team_id}))
    if "<int:team_id>" in rule and action is Action.SET_TEAM_TARGETS:
        return TeamTarget(world.team_id)
    return None


def _principal(role: str, world: World) -> Principal:
    actor = world.by_role(role)
    managed = frozenset({world.team_id}) if role == "manager" else frozenset()
    return Principal(person_id=actor.person_id, role=Role(role), managed_team_ids=managed)


def _call(
    client: FlaskClient, method: str, path: str, endpoint: str, headers: dict[str, str]
) -> int:
    body = SAMPLE_BODIES.get(endpoint)
    extra = {"If-Match": "*"}
    response = client.open(path, method=method, json=body, headers={**headers, **extra})
    response.close()
    return response.status_code


def test_every_route_has_a_policy_entry(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(policy.ROUTE_ACTIONS) == set(), "routes without a policy entry"
    assert set(policy.ROUTE_ACTIONS) - endpoints == set(), "policy entries without a route"


def test_anonymous_callers_reach_only_public_routes(
    app: Flask, client: FlaskClient, make_actor: MakeActor
) -> None:
    world = build_world(app, make_actor)
    for endpoint, method, rule in _routes(app):
        status = _call(client, method, _path(rule, world), endpoint, {})
        if method != "GET" and not rule.startswith("/api/"):
            assert status == 403, (method, rule, status)  # no CSRF token, so refused first
        elif policy.route_action(endpoint, published=True) is Action.PUBLIC:
            assert status not in (401, 403), (method, rule, status)
        elif rule.startswith(MACHINE_PATHS):
            assert status == 401, (method, rule, status)
        else:
            assert status == 302, (method, rule, status)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_the_policy_says(
    app: Flask, client: FlaskClient, make_actor: MakeActor, role: str
) -> None:
    world = build_world(app, make_actor)
    principal = _principal(role, world)
    mismatches = []
    for endpoint, method, rule in _routes(app):
        action = policy.ROUTE_ACTIONS[endpoint]
        allowed = policy.allows(principal, action, _target(action, rule, world))
        status = _call(client, method, _path(rule, world), endpoint, world.by_role(role).headers)
        if allowed != (status not in (401, 403)):
            mismatches.append((method, rule, status, "allowed" if allowed else "denied"))
    assert mismatches == []


def test_read_only_tokens_cannot_write_anywhere(
    app: Flask, client: FlaskClient, make_actor: MakeActor
) -> None:
    build = build_world(app, make_actor)
    reader = make_actor("admin", scopes=("read",))
    for endpoint, method, rule in _routes(app):
        if policy.ROUTE_ACTIONS[endpoint] not in policy.WRITES:
            continue
        status = _call(client, method, _path(rule, build), endpoint, reader.headers)
        assert status == 403, (method, rule, status)
