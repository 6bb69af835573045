"""``/teams``: teams, members, target levels and gap analysis.

The team, its members and its targets share one version, so every ETag below is
the team's.
"""

from __future__ import annotations

from typing import Any

from skills_service import policy
from skills_service.api.base import Blueprint, envelope, etag_headers, if_match
from skills_service.api.presenters import gap_body, team_body
from skills_service.api.schemas.common import SearchPageArgs, page_of
from skills_service.api.schemas.teams import (
    GapArgs,
    GapListSchema,
    MemberAddSchema,
    MemberListSchema,
    TargetListSchema,
    TargetPutSchema,
    TeamCreateSchema,
    TeamSchema,
    TeamUpdateSchema,
)
from skills_service.auth.principal import require_principal
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.policy import Action, TeamTarget
from skills_service.services import teams

URL_PREFIX = "/teams"
blueprint = Blueprint("teams", __name__, description="Teams, targets and gaps.")
Reply = tuple[Any, int, dict[str, str]]


@blueprint.route("", methods=["GET"])
@blueprint.arguments(SearchPageArgs, location="query")
@blueprint.response(200, page_of(TeamSchema))
def list_teams(args: dict[str, Any]) -> dict[str, Any]:
    page = teams.list_teams(db.session, page=args["page"], limit=args["limit"], text=args["q"])
    return envelope(page, [team_body(team) for team in page.items])


@blueprint.route("", methods=["POST"])
@blueprint.arguments(TeamCreateSchema)
@blueprint.response(201, TeamSchema)
def create_team(body: dict[str, Any]) -> Reply:
    with db.session.begin():
        team = teams.create_team(db.session, **body)
    return team_body(team), 201, etag_headers(team.version)


@blueprint.route("/<int:team_id>", methods=["GET"])
@blueprint.response(200, TeamSchema)
def get_team(team_id: int) -> Reply:
    team = teams.get_team(db.session, team_id)
    return team_body(team), 200, etag_headers(team.version)


@blueprint.route("/<int:team_id>", methods=["PATCH"])
@blueprint.arguments(TeamUpdateSchema)
@blueprint.response(200, TeamSchema)
def update_team(body: dict[str, Any], team_id: int) -> Reply:
    with db.session.begin():
        team = teams.update_team(db.session, team_id=team_id, if_match=if_match(), **body)
    return team_body(team), 200, etag_headers(team.version)


@blueprint.route("/<int:team_id>", methods=["DELETE"])
@blueprint.response(204)
def delete_team(team_id: int) -> None:
    with db.session.begin():
        teams.delete_team(db.session, team_id=team_id, if_match=if_match())


def _members_reply(team_id: int, version: int) -> Reply:
    rows = teams.members(db.session, team_id)
    items = [
        {"person_id": row.person.id, "name": row.person.name, "is_manager": row.is_manager}
        for row in rows
    ]
    return {"items": items}, 200, etag_headers(version)


@blueprint.route("/<int:team_id>/members", methods=["GET"])
@blueprint.response(200, MemberListSchema)
def list_members(team_id: int) -> Reply:
    return _members_reply(team_id, teams.get_team(db.session, team_id).version)


@blueprint.route("/<int:team_id>/members", methods=["POST"])
@blueprint.arguments(MemberAddSchema)
@blueprint.response(200, MemberListSchema)
def add_member(body: dict[str, Any], team_id: int) -> Reply:
    with db.session.begin():
        team = teams.add_member(db.session, team_id=team_id, if_match=if_match(), **body)
    return _members_reply(team_id, team.version)


@blueprint.route("/<int:team_id>/members/<int:person_id>", methods=["DELETE"])
@blueprint.response(200, MemberListSchema)
def remove_member(team_id: int, person_id: int) -> Reply:
    with db.session.begin():
        team = teams.remove_member(
            db.session, team_id=team_id, person_id=person_id, if_match=if_match()
        )
    return _members_reply(team_id, team.version)


def _targets_reply(team_id: int, version: int) -> Reply:
    items = [
        {"skill_id": skill.id, "skill_name": skill.name, "level": target.level}
        for target, skill in teams.targets(db.session, team_id)
    ]
    return {"items": items}, 200, etag_headers(version)


@blueprint.route("/<int:team_id>/targets", methods=["GET"])
@blueprint.response(200, TargetListSchema)
def get_targets(team_id: int) -> Reply:
    return _targets_reply(team_id, teams.get_team(db.session, team_id).version)


@blueprint.route("/<int:team_id>/targets", methods=["PUT"])
@blueprint.arguments(TargetPutSchema)
@blueprint.response(200, TargetListSchema)
def put_targets(body: dict[str, Any], team_id: int) -> Reply:
    session = db.session
    with session.begin():
        teams.get_team(session, team_id)
        policy.require(require_principal(), Action.SET_TEAM_TARGETS, TeamTarget(team_id))
        wanted = [(item["skill_id"], item["level"]) for item in body["items"]]
        team = teams.replace_targets(session, team_id=team_id, wanted=wanted, if_match=if_match())
    return _targets_reply(team_id, team.version)


@blueprint.route("/<int:team_id>/gaps", methods=["GET"])
@blueprint.arguments(GapArgs, location="query")
@blueprint.response(200, GapListSchema)
def get_gaps(args: dict[str, Any], team_id: int) -> dict[str, Any]:
    """A team's gaps, for its managers and admins (``Action.VIEW_TEAM_ANALYTICS``)."""
    session = db.session
    teams.get_team(session, team_id)
    policy.require(require_principal(), Action.VIEW_TEAM_ANALYTICS, TeamTarget(team_id))
    found = teams.gaps(
        session, team_id=team_id, today=utcnow().date(), include_expired=args["include_expired"]
    )
    return {"items": [gap_body(gap) for gap in found]}
