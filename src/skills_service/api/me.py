"""``/me``: the authenticated principal."""

from __future__ import annotations

from typing import Any

from skills_service import caching
from skills_service.api.base import Blueprint
from skills_service.api.presenters import person_body
from skills_service.api.schemas.people import MeSchema
from skills_service.auth.principal import require_principal
from skills_service.extensions import db
from skills_service.services import people

URL_PREFIX = "/me"
blueprint = Blueprint("me", __name__, description="The authenticated principal.")


def _own_epoch() -> caching.VersionKey:
    return caching.person_key(require_principal().person_id)


@blueprint.route("", methods=["GET"])
@caching.stored(_own_epoch, varies=require_principal)
@blueprint.response(200, MeSchema)
def get_me() -> dict[str, Any]:
    principal = require_principal()
    session = db.session
    person = people.get_person(session, principal.person_id)
    body = person_body(person, people.team_ids_of(session, person.id), principal)
    body["managed_teams"] = sorted(principal.managed_team_ids)
    body["scopes"] = sorted(scope.value for scope in principal.scopes)
    return body
