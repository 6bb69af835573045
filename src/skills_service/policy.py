"""Roles, permissions and object-level rules: the only place that decides access.

Two questions are answered here and nowhere else:

* may this principal call this route at all (``ROUTE_ACTIONS``, checked for every
  request before the view runs; a route missing from the table is refused), and
* may this principal perform this action on this object (``require``/``allows``,
  called by the view once it knows the object).

The module is pure: it sees a ``Principal`` and small target descriptions, never a
request or a database session, so every rule is unit-testable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum, auto

from skills_service.errors import Forbidden, ReauthenticationRequired, Unauthenticated


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"


class Action(Enum):
    """What a principal wants to do."""

    PUBLIC = auto()
    READ_API_DOCS = auto()
    READ_OWN_ACCOUNT = auto()
    MANAGE_OWN_ACCOUNT = auto()
    MANAGE_SECOND_FACTOR = auto()
    MANAGE_OWN_TOKENS = auto()
    CREATE_OWN_TOKEN = auto()
    READ = auto()
    READ_PRIVATE = auto()
    EDIT_PROFICIENCY = auto()
    VERIFY_PROFICIENCY = auto()
    SET_TEAM_TARGETS = auto()
    VIEW_TEAM_ANALYTICS = auto()
    MANAGE_CATALOGUE = auto()
    MANAGE_PEOPLE = auto()
    MANAGE_TEAMS = auto()
    READ_AUDIT = auto()
    EXPORT = auto()
    IMPORT = auto()
    RUN_DIAGNOSTICS = auto()


MINIMUM_ROLE: Mapping[Action, Role] = {
    Action.READ_API_DOCS: Role.VIEWER,
    Action.READ_OWN_ACCOUNT: Role.VIEWER,
    Action.MANAGE_OWN_ACCOUNT: Role.VIEWER,
    Action.MANAGE_SECOND_FACTOR: Role.VIEWER,
    Action.MANAGE_OWN_TOKENS: Role.MEMBER,
    Action.CREATE_OWN_TOKEN: Role.MEMBER,
    Action.READ: Role.VIEWER,
    Action.READ_PRIVATE: Role.VIEWER,
    Action.EDIT_PROFICIENCY: Role.MEMBER,
    Action.VERIFY_PROFICIENCY: Role.MANAGER,
    Action.SET_TEAM_TARGETS: Role.MANAGER,
    Action.VIEW_TEAM_ANALYTICS: Role.MANAGER,
    Action.MANAGE_CATALOGUE: Role.ADMIN,
    Action.MANAGE_PEOPLE: Role.ADMIN,
    Action.MANAGE_TEAMS: Role.ADMIN,
    Action.READ_AUDIT: Role.ADMIN,
    Action.EXPORT: Role.ADMIN,
    Action.IMPORT: Role.ADMIN,
    Action.RUN_DIAGNOSTICS: Role.ADMIN,
}
"""The least role that may ever perform each action (object rules may narrow it)."""

WRITES = frozenset(
    {
        Action.MANAGE_OWN_ACCOUNT,
        Action.MANAGE_SECOND_FACTOR,
        Action.MANAGE_OWN_TOKENS,
        Action.CREATE_OWN_TOKEN,
        Action.EDIT_PROFICIENCY,
        Action.VERIFY_PROFICIENCY,
        Action.SET_TEAM_TARGETS,
        Action.MANAGE_CATALOGUE,
        Action.MANAGE_PEOPLE,
        Action.MANAGE_TEAMS,
        Action.IMPORT,
    }
)
"""Actions that change state and so need a credential with the ``write`` scope."""

STEP_UP_ACTIONS = frozenset({Action.MANAGE_SECOND_FACTOR, Action.CREATE_OWN_TOKEN})
"""Actions that need a recent re-authentication: a browser session whose person
signed in or confirmed their password a few minutes ago. A bearer credential never
qualifies, so a token cannot enrol a second factor or mint another token. (Changing
the password asks for the current one in the same form, which is its own step-up.)"""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a person, their role, what their credential allows."""

    person_id: int
    role: Role
    scopes: frozenset[Scope] = frozenset({Scope.READ, Scope.WRITE})
    managed_team_ids: frozenset[int] = field(default_factory=frozenset)
    recently_authenticated: bool = False

    def manages_any(self, team_ids: frozenset[int]) -> bool:
        return not self.managed_team_ids.isdisjoint(team_ids)


@dataclass(frozen=True)
class PersonTarget:
    """A person as an object of an action, with the teams they belong to."""

    person_id: int
    team_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class TeamTarget:
    team_id: int


Target = PersonTarget | TeamTarget | None
TEAM_MANAGER_ACTIONS = frozenset({Action.SET_TEAM_TARGETS, Action.VIEW_TEAM_ANALYTICS})
"""What a manager may do to the teams they manage (and an admin to any team).

``VIEW_TEAM_ANALYTICS`` is a team's gaps (target against actual, members short) and
its heatmap, wherever they are shown: the API's ``/teams/{id}/gaps``, the team page
and the dashboard. Anyone signed in may read a team, its members and its targets."""


def _role_allows(principal: Principal, action: Action) -> bool:
    if action in WRITES and Scope.WRITE not in principal.scopes:
        return False
    return principal.role.at_least(MINIMUM_ROLE[action])


def _object_allows(principal: Principal, action: Action, target: Target) -> bool:
    if principal.role is Role.ADMIN:
        return not (
            action is Action.VERIFY_PROFICIENCY
            and isinstance(target, PersonTarget)
            and target.person_id == principal.person_id
        )
    if isinstance(target, PersonTarget):
        own = target.person_id == principal.person_id
        manages = principal.role.at_least(Role.MANAGER) and principal.manages_any(target.team_ids)
        if action is Action.EDIT_PROFICIENCY:
            return own
        if action is Action.VERIFY_PROFICIENCY:
            return manages and not own
        if action is Action.READ_PRIVATE:
            return own or manages
    if isinstance(target, TeamTarget) and action in TEAM_MANAGER_ACTIONS:
        return target.team_id in principal.managed_team_ids
    return target is None or action in (Action.READ, Action.READ_OWN_ACCOUNT)


def allows(principal: Principal | None, action: Action, target: Target = None) -> bool:
    """Whether ``principal`` may perform ``action`` (on ``target``, when given)."""
    if action is Action.PUBLIC:
        return True
    if principal is None:
        return False
    if not _role_allows(principal, action):
        return False
    if action in STEP_UP_ACTIONS and not principal.recently_authenticated:
        return False
    return target is None or _object_allows(principal, action, target)


def require(principal: Principal | None, action: Action, target: Target = None) -> None:
    """Raise ``Unauthenticated``/``Forbidden`` unless ``allows(...)``; when only a recent
    re-authentication is missing, ``ReauthenticationRequired``."""
    if principal is None and action is not Action.PUBLIC:
        raise Unauthenticated("Authentication is required.")
    if allows(principal, action, target):
        return
    if principal is not None and allows(
        replace(principal, recently_authenticated=True), action, target
    ):
        raise ReauthenticationRequired("Confirm your password to do this.")
    raise Forbidden("You are not allowed to do this.")


DASHBOARD_PREFIX = "/dashboard/"
DASHBOARD_ROUTES = (
    "",
    "<path:path>",
    "_dash-layout",
    "_dash-dependencies",
    "_dash-update-component",
    "_reload-hash",
    "_favicon.ico",
    "_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
)
"""The routes Dash registers (its endpoints are named by their paths)."""

ROUTE_ACTIONS: Mapping[str, Action] = {
    **{DASHBOARD_PREFIX + route: Action.READ for route in DASHBOARD_ROUTES},
    "_dashboard_dash_assets.static": Action.READ,
    "static": Action.PUBLIC,
    "health.healthz": Action.PUBLIC,
    "health.readyz": Action.PUBLIC,
    "metrics.metrics": Action.PUBLIC,
    "api-docs.openapi_json": Action.READ_API_DOCS,
    "docs.api_docs": Action.READ_API_DOCS,
    "docs.swagger_asset": Action.READ_API_DOCS,
    "docs.static": Action.READ_API_DOCS,
    "auth.login_page": Action.PUBLIC,
    "auth.login_mfa": Action.PUBLIC,
    "auth.logout": Action.PUBLIC,
    "oidc.start": Action.PUBLIC,
    "oidc.callback": Action.PUBLIC,
    "account.overview": Action.READ_OWN_ACCOUNT,
    "account.change_password": Action.MANAGE_OWN_ACCOUNT,
    "account.confirm": Action.MANAGE_OWN_ACCOUNT,
    "account.enrol_mfa": Action.MANAGE_SECOND_FACTOR,
    "account.create_token": Action.CREATE_OWN_TOKEN,
    "account.revoke_token": Action.MANAGE_OWN_TOKENS,
    "account.sign_out_everywhere": Action.MANAGE_OWN_ACCOUNT,
    "web.my_skills": Action.READ_OWN_ACCOUNT,
    "web.save_my_skill": Action.EDIT_PROFICIENCY,
    "web.remove_my_skill": Action.EDIT_PROFICIENCY,
    "web.catalogue": Action.READ,
    "web.skill_page": Action.READ,
    "web.people_search": Action.READ,
    "web.person_page": Action.READ,
    "web.team_page": Action.READ,
    "web.verifications": Action.VERIFY_PROFICIENCY,
    "web.verify": Action.VERIFY_PROFICIENCY,
    "web.set_target": Action.SET_TEAM_TARGETS,
    "admin.people_page": Action.MANAGE_PEOPLE,
    "admin.create_person": Action.MANAGE_PEOPLE,
    "admin.update_person": Action.MANAGE_PEOPLE,
    "admin.reset_password": Action.MANAGE_PEOPLE,
    "admin.tokens_page": Action.MANAGE_PEOPLE,
    "admin.revoke_token": Action.MANAGE_PEOPLE,
    "admin.teams_page": Action.MANAGE_TEAMS,
    "admin.create_team": Action.MANAGE_TEAMS,
    "admin.team_page": Action.MANAGE_TEAMS,
    "admin.add_member": Action.MANAGE_TEAMS,
    "admin.remove_member": Action.MANAGE_TEAMS,
    "admin.skills_page": Action.MANAGE_CATALOGUE,
    "admin.skill_page": Action.MANAGE_CATALOGUE,
    "admin.create_skill": Action.MANAGE_CATALOGUE,
    "admin.update_skill": Action.MANAGE_CATALOGUE,
    "admin.data_page": Action.IMPORT,
    "admin.import_data": Action.IMPORT,
    "admin.audit_page": Action.READ_AUDIT,
    "me.get_me": Action.READ_OWN_ACCOUNT,
    "skills.list_skills": Action.READ,
    "skills.create_skill": Action.MANAGE_CATALOGUE,
    "skills.get_skill": Action.READ,
    "skills.update_skill": Action.MANAGE_CATALOGUE,
    "skills.delete_skill": Action.MANAGE_CATALOGUE,
    "people.search_people": Action.READ,
    "people.create_person": Action.MANAGE_PEOPLE,
    "people.get_person": Action.READ,
    "people.update_person": Action.MANAGE_PEOPLE,
    "people.reset_password": Action.MANAGE_PEOPLE,
    "proficiencies.list_proficiencies": Action.READ,
    "proficiencies.get_proficiency": Action.READ,
    "proficiencies.put_proficiency": Action.EDIT_PROFICIENCY,
    "proficiencies.delete_proficiency": Action.EDIT_PROFICIENCY,
    "proficiencies.proficiency_history": Action.READ,
    "proficiencies.verify_proficiency": Action.VERIFY_PROFICIENCY,
    "proficiencies.unverify_proficiency": Action.VERIFY_PROFICIENCY,
    "teams.list_teams": Action.READ,
    "teams.create_team": Action.MANAGE_TEAMS,
    "teams.get_team": Action.READ,
    "teams.update_team": Action.MANAGE_TEAMS,
    "teams.delete_team": Action.MANAGE_TEAMS,
    "teams.list_members": Action.READ,
    "teams.add_member": Action.MANAGE_TEAMS,
    "teams.remove_member": Action.MANAGE_TEAMS,
    "teams.get_targets": Action.READ,
    "teams.put_targets": Action.SET_TEAM_TARGETS,
    "teams.get_gaps": Action.VIEW_TEAM_ANALYTICS,
    "matrix.export_matrix": Action.EXPORT,
    "matrix.import_matrix": Action.IMPORT,
    "audit.list_events": Action.READ_AUDIT,
    "diagnostics.hello": Action.READ,
    "diagnostics.calculate": Action.READ,
    "diagnostics.ping": Action.RUN_DIAGNOSTICS,
}


SELF_AUTHENTICATED_ROUTES = frozenset({"metrics.metrics"})
"""Routes that check a credential of their own (the scrape token), not a person's:
the principal loader ignores their ``Authorization`` header."""


PUBLISHABLE = frozenset({Action.READ_API_DOCS})
"""Actions a deployment may open to anyone: the API's OpenAPI document and Swagger UI
(``SKILLS_PUBLIC_API_DOCS=true``, and always in development). Otherwise they need a
signed-in caller, so a production service does not describe itself to strangers."""


def route_action(endpoint: str | None, *, published: bool = False) -> Action | None:
    """The action a route needs, or ``None`` when the route has no policy (refused);
    ``published`` makes the ``PUBLISHABLE`` actions public."""
    if endpoint is None:
        return None
    action = ROUTE_ACTIONS.get(endpoint)
    return Action.PUBLIC if published and action in PUBLISHABLE else action
