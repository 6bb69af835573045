"""The policy rules, decided without a request or a database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from skills_service import policy
from skills_service.errors import Forbidden, ReauthenticationRequired, Unauthenticated
from skills_service.policy import Action, PersonTarget, Principal, Role, Scope, TeamTarget

TEAM = 7
ALICE, BOB, MANAGER_ID = 1, 2, 3


def principal(
    role: Role,
    person_id: int = ALICE,
    *,
    manages: frozenset[int] = frozenset(),
    scopes: frozenset[Scope] = frozenset({Scope.READ, Scope.WRITE}),
) -> Principal:
    return Principal(person_id=person_id, role=role, scopes=scopes, managed_team_ids=manages)


def test_every_action_but_public_has_a_minimum_role() -> None:
    assert set(policy.MINIMUM_ROLE) == set(Action) - {Action.PUBLIC}


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.at_least(Role.MANAGER)
    assert Role.MANAGER.at_least(Role.MEMBER)
    assert not Role.VIEWER.at_least(Role.MEMBER)


def test_anonymous_may_only_do_public_things() -> None:
    assert policy.allows(None, Action.PUBLIC)
    with pytest.raises(Unauthenticated):
        policy.require(None, Action.READ)


def test_member_edits_only_their_own_proficiency() -> None:
    alice = principal(Role.MEMBER)
    assert policy.allows(alice, Action.EDIT_PROFICIENCY, PersonTarget(ALICE))
    assert not policy.allows(alice, Action.EDIT_PROFICIENCY, PersonTarget(BOB))
    with pytest.raises(Forbidden):
        policy.require(alice, Action.EDIT_PROFICIENCY, PersonTarget(BOB))


def test_viewer_edits_nothing_not_even_their_own() -> None:
    assert not policy.allows(principal(Role.VIEWER), Action.EDIT_PROFICIENCY, PersonTarget(ALICE))


def test_manager_verifies_only_members_of_teams_they_manage() -> None:
    manager = principal(Role.MANAGER, MANAGER_ID, manages=frozenset({TEAM}))
    assert policy.allows(manager, Action.VERIFY_PROFICIENCY, PersonTarget(BOB, frozenset({TEAM})))
    assert not policy.allows(manager, Action.VERIFY_PROFICIENCY, PersonTarget(BOB, frozenset({8})))


def test_a_team_flag_without_the_manager_role_grants_nothing() -> None:
    demoted = principal(Role.MEMBER, MANAGER_ID, manages=frozenset({TEAM}))
    target = PersonTarget(BOB, frozenset({TEAM}))
    assert not policy.allows(demoted, Action.VERIFY_PROFICIENCY, target)
    assert not policy.allows(demoted, Action.READ_PRIVATE, target)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_nobody_verifies_themselves(role: Role) -> None:
    me = principal(role, MANAGER_ID, manages=frozenset({TEAM}))
    target = PersonTarget(MANAGER_ID, frozenset({TEAM}))
    assert not policy.allows(me, Action.VERIFY_PROFICIENCY, target)


def test_private_fields_for_self_managers_and_admins_only() -> None:
    target = PersonTarget(BOB, frozenset({TEAM}))
    assert policy.allows(principal(Role.MEMBER, BOB), Action.READ_PRIVATE, target)
    assert policy.allows(
        principal(Role.MANAGER, manages=frozenset({TEAM})), Action.READ_PRIVATE, target
    )
    assert policy.allows(principal(Role.ADMIN), Action.READ_PRIVATE, target)
    assert not policy.allows(principal(Role.MANAGER), Action.READ_PRIVATE, target)
    assert not policy.allows(principal(Role.VIEWER), Action.READ_PRIVATE, target)


def test_managers_set_targets_only_for_their_teams() -> None:
    manager = principal(Role.MANAGER, manages=frozenset({TEAM}))
    assert policy.allows(manager, Action.SET_TEAM_TARGETS, TeamTarget(TEAM))
    assert not policy.allows(manager, Action.SET_TEAM_TARGETS, TeamTarget(TEAM + 1))


def test_team_analytics_are_for_that_teams_managers_and_admins() -> None:
    manager = principal(Role.MANAGER, manages=frozenset({TEAM}))
    assert policy.allows(manager, Action.VIEW_TEAM_ANALYTICS, TeamTarget(TEAM))
    assert not policy.allows(manager, Action.VIEW_TEAM_ANALYTICS, TeamTarget(TEAM + 1))
    assert policy.allows(principal(Role.ADMIN), Action.VIEW_TEAM_ANALYTICS, TeamTarget(TEAM + 1))
    member_of_team = principal(Role.MEMBER, manages=frozenset({TEAM}))
    assert not policy.allows(member_of_team, Action.VIEW_TEAM_ANALYTICS, TeamTarget(TEAM))


def test_a_read_scoped_credential_never_writes_even_for_an_admin() -> None:
    reader = principal(Role.ADMIN, scopes=frozenset({Scope.READ}))
    assert policy.allows(reader, Action.READ)
    for action in policy.WRITES:
        assert not policy.allows(reader, action)


@pytest.mark.parametrize(
    "action",
    [
        Action.MANAGE_CATALOGUE,
        Action.MANAGE_PEOPLE,
        Action.IMPORT,
        Action.EXPORT,
        Action.READ_AUDIT,
    ],
)
def test_administration_is_for_admins(action: Action) -> None:
    assert policy.allows(principal(Role.ADMIN), action)
    assert not policy.allows(principal(Role.MANAGER, manages=frozenset({TEAM})), action)


def test_an_unknown_route_has_no_policy() -> None:
    assert policy.route_action("nowhere.view") is None
    assert policy.route_action(None) is None


@pytest.mark.parametrize("action", sorted(policy.STEP_UP_ACTIONS, key=lambda a: a.name))
@pytest.mark.parametrize("role", [Role.MEMBER, Role.ADMIN])
def test_step_up_actions_need_a_recent_authentication_whatever_the_role(
    action: Action, role: Role
) -> None:
    stale = principal(role)
    assert not policy.allows(stale, action)
    with pytest.raises(ReauthenticationRequired):
        policy.require(stale, action)
    policy.require(replace(stale, recently_authenticated=True), action)


def test_a_recent_authentication_grants_nothing_the_role_does_not() -> None:
    viewer = replace(principal(Role.VIEWER), recently_authenticated=True)
    with pytest.raises(Forbidden) as refused:
        policy.require(viewer, Action.CREATE_OWN_TOKEN)
    assert not isinstance(refused.value, ReauthenticationRequired)


def test_the_api_docs_are_public_only_when_published() -> None:
    for endpoint in ("api-docs.openapi_json", "docs.api_docs", "docs.swagger_asset"):
        assert policy.route_action(endpoint) is Action.READ_API_DOCS
        assert policy.route_action(endpoint, published=True) is Action.PUBLIC
    assert policy.route_action("audit.list_events", published=True) is Action.READ_AUDIT
