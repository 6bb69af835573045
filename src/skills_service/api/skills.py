"""``/skills``: the catalogue."""

from __future__ import annotations

from typing import Any

from skills_service import caching
from skills_service.api.base import Blueprint, envelope, etag_headers, if_match
from skills_service.api.presenters import skill_body
from skills_service.api.schemas.common import page_of
from skills_service.api.schemas.skills import (
    SkillCreateSchema,
    SkillListArgs,
    SkillSchema,
    SkillUpdateSchema,
)
from skills_service.extensions import db
from skills_service.services import skills

URL_PREFIX = "/skills"
blueprint = Blueprint("skills", __name__, description="The skills catalogue.")


@blueprint.route("", methods=["GET"])
@caching.stored(caching.CATALOGUE)
@blueprint.arguments(SkillListArgs, location="query")
@blueprint.response(200, page_of(SkillSchema))
def list_skills(args: dict[str, Any]) -> dict[str, Any]:
    page = skills.list_skills(
        db.session,
        page=args["page"],
        limit=args["limit"],
        text=args["q"],
        category=args["category"],
        include_deprecated=args["include_deprecated"],
    )
    return envelope(page, [skill_body(skill) for skill in page.items])


@blueprint.route("", methods=["POST"])
@blueprint.arguments(SkillCreateSchema)
@blueprint.response(201, SkillSchema)
def create_skill(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    with db.session.begin():
        skill = skills.create_skill(db.session, **body)
    return skill_body(skills.entry(skill)), 201, etag_headers(skill.version)


@blueprint.route("/<int:skill_id>", methods=["GET"])
@caching.stored(caching.CATALOGUE)
@blueprint.response(200, SkillSchema)
def get_skill(skill_id: int) -> tuple[Any, int, dict[str, str]]:
    skill = skills.get_skill(db.session, skill_id)
    return skill_body(skills.entry(skill)), 200, etag_headers(skill.version)


@blueprint.route("/<int:skill_id>", methods=["PATCH"])
@blueprint.arguments(SkillUpdateSchema)
@blueprint.response(200, SkillSchema)
def update_skill(body: dict[str, Any], skill_id: int) -> tuple[Any, int, dict[str, str]]:
    with db.session.begin():
        skill = skills.update_skill(db.session, skill_id=skill_id, if_match=if_match(), **body)
    return skill_body(skills.entry(skill)), 200, etag_headers(skill.version)


@blueprint.route("/<int:skill_id>", methods=["DELETE"])
@blueprint.response(204)
def delete_skill(skill_id: int) -> None:
    with db.session.begin():
        skills.delete_skill(db.session, skill_id=skill_id, if_match=if_match())
