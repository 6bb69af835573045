"""``/people``: people search and administration."""

from __future__ import annotations

from typing import Any

from skills_service.api.base import Blueprint, envelope, etag_headers, if_match
from skills_service.api.presenters import person_body
from skills_service.api.schemas.common import bounded_page_of
from skills_service.api.schemas.people import (
    PasswordResetSchema,
    PeopleSearchArgs,
    PersonCreateSchema,
    PersonMatchSchema,
    PersonSchema,
    PersonUpdateSchema,
)
from skills_service.auth.principal import current_principal
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.services import accounts, people, search

URL_PREFIX = "/people"
blueprint = Blueprint("people", __name__, description="People and people search.")


@blueprint.route("", methods=["GET"])
@blueprint.arguments(PeopleSearchArgs, location="query")
@blueprint.response(200, bounded_page_of(PersonMatchSchema))
def search_people(args: dict[str, Any]) -> dict[str, Any]:
    """People who meet every ``skill=NAME_OR_ID:MIN_LEVEL`` condition, best first.

    ``total`` is exact up to 10,000 matches (``total_relation`` ``eq``); past that it is
    a lower bound (``gte``), and ``next`` still links every following page.
    """
    session = db.session
    page = search.people_matching(
        session,
        conditions=search.parse_conditions(session, args["skill"]),
        text=args["q"],
        page=args["page"],
        limit=args["limit"],
        today=utcnow().date(),
        include_expired=args["include_expired"],
    )
    teams = people.teams_by_person(session, [match.person.id for match in page.items])
    principal = current_principal()
    items = [
        person_body(match.person, teams[match.person.id], principal) | {"score": match.score}
        for match in page.items
    ]
    return envelope(page, items) | {"total_relation": "eq" if page.total_is_exact else "gte"}


@blueprint.route("", methods=["POST"])
@blueprint.arguments(PersonCreateSchema)
@blueprint.response(201, PersonSchema)
def create_person(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    with db.session.begin():
        person = people.create_person(db.session, **body)
    return person_body(person, [], current_principal()), 201, etag_headers(person.version)


@blueprint.route("/<int:person_id>", methods=["GET"])
@blueprint.response(200, PersonSchema)
def get_person(person_id: int) -> tuple[Any, int, dict[str, str]]:
    session = db.session
    person = people.get_person(session, person_id)
    body = person_body(person, people.team_ids_of(session, person_id), current_principal())
    return body, 200, etag_headers(person.version)


@blueprint.route("/<int:person_id>", methods=["PATCH"])
@blueprint.arguments(PersonUpdateSchema)
@blueprint.response(200, PersonSchema)
def update_person(body: dict[str, Any], person_id: int) -> tuple[Any, int, dict[str, str]]:
    session = db.session
    with session.begin():
        person = people.update_person(session, person_id=person_id, if_match=if_match(), **body)
        team_ids = people.team_ids_of(session, person_id)
    return person_body(person, team_ids, current_principal()), 200, etag_headers(person.version)


@blueprint.route("/<int:person_id>/password-reset", methods=["POST"])
@blueprint.response(200, PasswordResetSchema)
def reset_password(person_id: int) -> dict[str, str]:
    """Replace the password with a one-time one and end every session of the person."""
    session = db.session
    with session.begin():
        person = people.get_person(session, person_id)
        one_time = accounts.admin_reset_password(session, person=person)
    return {"one_time_password": one_time}
