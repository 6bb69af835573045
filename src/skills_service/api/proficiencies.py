"""``/people/{id}/skills``: a person's proficiencies, their verification and history."""

from __future__ import annotations

from typing import Any

from skills_service import policy
from skills_service.api.base import Blueprint, etag_headers, if_match, if_none_match
from skills_service.api.presenters import proficiency_body, proficiency_change_body
from skills_service.api.schemas.proficiencies import (
    HistoryListSchema,
    ProficiencyListSchema,
    ProficiencyPutSchema,
    ProficiencySchema,
)
from skills_service.auth.principal import current_principal, require_principal
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.policy import Action
from skills_service.services import people, proficiencies
from skills_service.services.proficiencies import ProficiencyInput

URL_PREFIX = "/people"
blueprint = Blueprint("proficiencies", __name__, description="Proficiencies of a person.")
ITEM = "/<int:person_id>/skills/<int:skill_id>"


def _may_see_private(person_id: int) -> bool:
    target = people.as_target(db.session, person_id)
    return policy.allows(current_principal(), Action.READ_PRIVATE, target)


def _authorise(action: Action, person_id: int) -> int:
    """Object-level check; returns the acting person's id."""
    principal = require_principal()
    policy.require(principal, action, people.as_target(db.session, person_id))
    return principal.person_id


@blueprint.route("/<int:person_id>/skills", methods=["GET"])
@blueprint.response(200, ProficiencyListSchema)
def list_proficiencies(person_id: int) -> dict[str, Any]:
    session = db.session
    private = _may_see_private(person_id)
    today = utcnow().date()
    items = proficiencies.proficiencies_of(session, person_id)
    expiring = proficiencies.expiring_soon(session, [person_id], today) if private else []
    return {
        "items": [proficiency_body(item, private=private, today=today) for item in items],
        "total": len(items),
        "expiring_soon": [item.skill_id for item in expiring],
    }


@blueprint.route(ITEM, methods=["GET"])
@blueprint.response(200, ProficiencySchema)
def get_proficiency(person_id: int, skill_id: int) -> tuple[Any, int, dict[str, str]]:
    private = _may_see_private(person_id)
    proficiency = proficiencies.get_proficiency(db.session, person_id, skill_id)
    body = proficiency_body(proficiency, private=private, today=utcnow().date())
    return body, 200, etag_headers(proficiency.version)


@blueprint.route(ITEM, methods=["PUT"])
@blueprint.arguments(ProficiencyPutSchema)
@blueprint.response(200, ProficiencySchema)
@blueprint.alt_response(201, schema=ProficiencySchema, description="Created")
def put_proficiency(
    body: dict[str, Any], person_id: int, skill_id: int
) -> tuple[Any, int, dict[str, str]]:
    """Create or replace. Replacing needs ``If-Match``; ``If-None-Match: *`` only creates."""
    session = db.session
    with session.begin():
        actor_id = _authorise(Action.EDIT_PROFICIENCY, person_id)
        proficiency, created = proficiencies.upsert_proficiency(
            session,
            person_id=person_id,
            skill_id=skill_id,
            data=ProficiencyInput(**body),
            actor_id=actor_id,
            if_match=if_match(),
            if_none_match=if_none_match(),
        )
    out = proficiency_body(proficiency, private=True, today=utcnow().date())
    return out, 201 if created else 200, etag_headers(proficiency.version)


@blueprint.route(ITEM, methods=["DELETE"])
@blueprint.response(204)
def delete_proficiency(person_id: int, skill_id: int) -> None:
    session = db.session
    with session.begin():
        actor_id = _authorise(Action.EDIT_PROFICIENCY, person_id)
        proficiencies.delete_proficiency(
            session, person_id=person_id, skill_id=skill_id, actor_id=actor_id, if_match=if_match()
        )


@blueprint.route(ITEM + "/verification", methods=["POST"])
@blueprint.response(200, ProficiencySchema)
def verify_proficiency(person_id: int, skill_id: int) -> tuple[Any, int, dict[str, str]]:
    session = db.session
    with session.begin():
        verifier_id = _authorise(Action.VERIFY_PROFICIENCY, person_id)
        proficiency = proficiencies.verify_proficiency(
            session,
            person_id=person_id,
            skill_id=skill_id,
            verifier_id=verifier_id,
            if_match=if_match(),
        )
    out = proficiency_body(proficiency, private=True, today=utcnow().date())
    return out, 200, etag_headers(proficiency.version)


@blueprint.route(ITEM + "/verification", methods=["DELETE"])
@blueprint.response(200, ProficiencySchema)
def unverify_proficiency(person_id: int, skill_id: int) -> tuple[Any, int, dict[str, str]]:
    session = db.session
    with session.begin():
        actor_id = _authorise(Action.VERIFY_PROFICIENCY, person_id)
        proficiency = proficiencies.unverify_proficiency(
            session,
            person_id=person_id,
            skill_id=skill_id,
            actor_id=actor_id,
            if_match=if_match(),
        )
    out = proficiency_body(proficiency, private=True, today=utcnow().date())
    return out, 200, etag_headers(proficiency.version)


@blueprint.route("/<int:person_id>/history", methods=["GET"])
@blueprint.response(200, HistoryListSchema)
def proficiency_history(person_id: int) -> dict[str, Any]:
    changes = proficiencies.history(db.session, person_id=person_id)
    return {"items": [proficiency_change_body(change) for change in changes]}
