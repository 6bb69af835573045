"""The pages people use: my skills, the catalogue, people, teams, verifications.

Views stay thin: read the query or form, ask the policy, call a service, render.
Every write goes through a Flask-WTF form (CSRF token) and carries the version the
page showed, so an edit made elsewhere in the meantime is refused, not overwritten.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from skills_service import policy
from skills_service.auth.principal import current_principal, require_principal
from skills_service.errors import DomainError, InvalidInput, NotFound
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.policy import Action, Principal, Role, TeamTarget
from skills_service.services import people, proficiencies, search, skills, teams
from skills_service.services.common import etag_for
from skills_service.services.proficiencies import ProficiencyInput
from skills_service.web.forms import LEVELS, LevelForm, RemoveForm, TargetForm, VerifyForm
from skills_service.web.markdown import render_markdown
from skills_service.web.queries import page_number, text_arg
from skills_service.web.responses import invalid_form, refused

blueprint = Blueprint("web", __name__)
PAGE_SIZE = 25
SEARCH_SLOTS = 3
CATALOGUE_LIMIT = 1000
Answer = str | Response | tuple[str, int]


@blueprint.app_context_processor
def _policy_helpers() -> dict[str, object]:
    """``may('ACTION')`` for templates: what to show is still decided by the policy."""
    return {"may": lambda action: policy.allows(current_principal(), Action[action])}


def _catalogue() -> list[tuple[int, str]]:
    page = skills.list_skills(db.session, page=1, limit=CATALOGUE_LIMIT, include_deprecated=False)
    return [(skill.id, skill.name) for skill in page.items]


@blueprint.get("/")
def my_skills() -> str:
    principal = require_principal()
    session = db.session
    today = utcnow().date()
    held = proficiencies.proficiencies_of(session, principal.person_id)
    held_ids = {item.skill_id for item in held}
    expiring = proficiencies.expiring_soon(session, [principal.person_id], today)
    return render_template(
        "web/my_skills.html",
        person=people.get_person(session, principal.person_id),
        team_list=teams.teams_by_id(session, people.team_ids_of(session, principal.person_id)),
        held=held,
        names=skills.names_of(session, list(held_ids)),
        addable=[(skill_id, name) for skill_id, name in _catalogue() if skill_id not in held_ids],
        expiring={item.skill_id for item in expiring},
        today=today,
        levels=LEVELS,
        may_edit=policy.allows(principal, Action.EDIT_PROFICIENCY),
        form=LevelForm(),
        remove_form=RemoveForm(),
    )


@blueprint.post("/my-skills")
def save_my_skill() -> Answer:
    principal = require_principal()
    form = LevelForm()
    session = db.session
    try:
        if not form.validate_on_submit():
            raise invalid_form(form, "Choose a skill and a level from 1 to 5.")
        version = form.version.data
        with session.begin():
            _require_own_edit(principal)
            proficiencies.upsert_proficiency(
                session,
                person_id=principal.person_id,
                skill_id=form.skill_id.data,
                data=ProficiencyInput(level=form.level.data, interested=bool(form.interested.data)),
                actor_id=principal.person_id,
                if_match=etag_for(version) if version else None,
                if_none_match=None if version else "*",
            )
    except DomainError as error:
        return refused(error, my_skills)
    flash("Saved.")
    return redirect(url_for("web.my_skills"), code=303)


@blueprint.post("/my-skills/remove")
def remove_my_skill() -> Answer:
    principal = require_principal()
    form = RemoveForm()
    session = db.session
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with session.begin():
            _require_own_edit(principal)
            proficiencies.delete_proficiency(
                session,
                person_id=principal.person_id,
                skill_id=form.skill_id.data,
                actor_id=principal.person_id,
                if_match=etag_for(form.version.data),
            )
    except DomainError as error:
        return refused(error, my_skills)
    flash("Removed.")
    return redirect(url_for("web.my_skills"), code=303)


def _require_own_edit(principal: Principal) -> None:
    target = people.as_target(db.session, principal.person_id)
    policy.require(principal, Action.EDIT_PROFICIENCY, target)


@blueprint.get("/skills")
def catalogue() -> str:
    text, category = text_arg("q"), text_arg("category", 64)
    page = skills.list_skills(
        db.session, page=page_number(), limit=PAGE_SIZE, text=text, category=category
    )
    return render_template("web/catalogue.html", page=page, q=text or "", category=category or "")


@blueprint.get("/skills/<int:skill_id>")
def skill_page(skill_id: int) -> str:
    session = db.session
    today = utcnow().date()
    skill = skills.get_skill(session, skill_id)
    holders = search.people_matching(
        session,
        conditions=[search.SkillCondition(skill_id=skill.id, min_level=1, known=True)],
        text=None,
        page=1,
        limit=PAGE_SIZE,
        today=today,
    )
    return render_template(
        "web/skill.html",
        skill=skill,
        description=render_markdown(skill.description),
        counts=search.holders_by_level(session, skill_id=skill.id, today=today),
        holders=holders,
        levels=dict(LEVELS),
    )


@blueprint.get("/people")
def people_search() -> str | tuple[str, int]:
    wanted = list(zip(request.args.getlist("skill"), request.args.getlist("level"), strict=False))
    chosen = [(skill, level) for skill, level in wanted[:SEARCH_SLOTS] if skill]
    text = text_arg("q")
    error, results = None, None
    if chosen or text:
        session = db.session
        try:
            conditions = search.parse_conditions(session, [f"{s}:{lvl}" for s, lvl in chosen])
            results = search.people_matching(
                session,
                conditions=conditions,
                text=text,
                page=page_number(),
                limit=PAGE_SIZE,
                today=utcnow().date(),
            )
        except (InvalidInput, NotFound) as exc:
            error = exc.detail
    slots = chosen + [("", "3")] * (SEARCH_SLOTS - len(chosen))
    page = render_template(
        "web/people.html",
        catalogue=_catalogue(),
        levels=LEVELS,
        slots=slots,
        q=text or "",
        results=results,
        error=error,
    )
    return (page, 422) if error else page


@blueprint.get("/people/<int:person_id>")
def person_page(person_id: int) -> str:
    principal = require_principal()
    session = db.session
    person = people.get_person(session, person_id)
    target = people.as_target(session, person_id)
    held = proficiencies.proficiencies_of(session, person_id)
    return render_template(
        "web/person.html",
        person=person,
        held=held,
        names=skills.names_of(session, [item.skill_id for item in held]),
        team_list=teams.teams_by_id(session, sorted(target.team_ids)),
        history=proficiencies.history(session, person_id=person_id, limit=50),
        private=policy.allows(principal, Action.READ_PRIVATE, target),
        today=utcnow().date(),
        levels=dict(LEVELS),
    )


@blueprint.get("/teams/<int:team_id>")
def team_page(team_id: int) -> str:
    """The team and its targets for everyone; its gaps only for who may see them."""
    session = db.session
    principal, team = current_principal(), TeamTarget(team_id)
    may_set_targets = policy.allows(principal, Action.SET_TEAM_TARGETS, team)
    may_see_gaps = policy.allows(principal, Action.VIEW_TEAM_ANALYTICS, team)
    return render_template(
        "web/team.html",
        team=teams.get_team(session, team_id),
        members=teams.members(session, team_id),
        gaps=teams.gaps(session, team_id=team_id, today=utcnow().date()) if may_see_gaps else None,
        targets=[] if may_see_gaps else teams.targets(session, team_id),
        may_set_targets=may_set_targets,
        catalogue=_catalogue() if may_set_targets else [],
        levels=LEVELS,
        form=TargetForm(),
    )


@blueprint.post("/teams/<int:team_id>/targets")
def set_target(team_id: int) -> Answer:
    """Set (or with level 0, remove) one target level; the team's version guards it."""
    form = TargetForm()
    session = db.session
    try:
        if not form.validate_on_submit():
            raise invalid_form(form, "Choose a skill and a target level from 0 (none) to 5.")
        with session.begin():
            policy.require(require_principal(), Action.SET_TEAM_TARGETS, TeamTarget(team_id))
            wanted = {
                target.skill_id: target.level for target, _ in teams.targets(session, team_id)
            }
            wanted[form.skill_id.data] = form.level.data
            teams.replace_targets(
                session,
                team_id=team_id,
                wanted=[(skill_id, level) for skill_id, level in wanted.items() if level],
                if_match=etag_for(form.version.data),
            )
    except DomainError as error:
        return refused(error, lambda: team_page(team_id))
    flash("Target saved.")
    return redirect(url_for("web.team_page", team_id=team_id), code=303)


@blueprint.get("/verifications")
def verifications() -> str:
    principal = require_principal()
    pending = proficiencies.awaiting_verification(
        db.session, verifier_id=principal.person_id, everyone=principal.role is Role.ADMIN
    )
    return render_template(
        "web/verifications.html", pending=pending, form=VerifyForm(), levels=dict(LEVELS)
    )


@blueprint.post("/verifications")
def verify() -> Answer:
    principal = require_principal()
    form = VerifyForm()
    session = db.session
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with session.begin():
            person_id = form.person_id.data
            policy.require(
                principal, Action.VERIFY_PROFICIENCY, people.as_target(session, person_id)
            )
            proficiencies.verify_proficiency(
                session,
                person_id=person_id,
                skill_id=form.skill_id.data,
                verifier_id=principal.person_id,
                if_match=etag_for(form.version.data),
            )
    except DomainError as error:
        return refused(error, verifications)
    flash("Verified.")
    return redirect(url_for("web.verifications"), code=303)
