"""``/admin``: people, teams, the catalogue, CSV data, tokens and the audit trail.

The route policy admits administrators only (``policy.ROUTE_ACTIONS``), and the
CSRF check has run before any of these views. Every change goes through the same
services as the API, inside one transaction; a refused change re-renders the page
with the reason and the matching 4xx status, and writes nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from skills_service.auth.principal import require_principal
from skills_service.errors import DomainError, ImportRejected
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.policy import Role
from skills_service.security.problems import status_for
from skills_service.services import (
    accounts,
    audit,
    matrix,
    matrix_import,
    people,
    search,
    skills,
    teams,
    tokens,
)
from skills_service.services.common import ascii_int, etag_for
from skills_service.web.forms import (
    ConfirmForm,
    ImportForm,
    MemberForm,
    MemberRemoveForm,
    PersonCreateForm,
    PersonUpdateForm,
    SkillForm,
    TeamForm,
)
from skills_service.web.queries import page_number, text_arg
from skills_service.web.responses import invalid_form, refused

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 50
ROLES = [role.value for role in Role]
Answer = str | Response | tuple[str, int]


@blueprint.get("/people")
def people_page() -> str:
    text = text_arg("q")
    results = search.people_matching(
        db.session,
        conditions=[],
        text=text,
        page=page_number(),
        limit=PAGE_SIZE,
        today=utcnow().date(),
        include_inactive=True,
    )
    return render_template(
        "admin/people.html",
        results=results,
        q=text or "",
        roles=ROLES,
        create_form=PersonCreateForm(),
        update_form=PersonUpdateForm(),
        confirm=ConfirmForm(),
    )


@blueprint.post("/people")
def create_person() -> Answer:
    form = PersonCreateForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with db.session.begin():
            person = people.create_person(
                db.session, email=form.email.data, name=form.name.data, role=form.role.data
            )
    except DomainError as error:
        return refused(error, people_page)
    flash(f"{person.name} was added as {person.role}.")
    return redirect(url_for("admin.people_page", q=person.email), code=303)


@blueprint.post("/people/<int:person_id>")
def update_person(person_id: int) -> Answer:
    form = PersonUpdateForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with db.session.begin():
            person = people.update_person(
                db.session,
                person_id=person_id,
                if_match=etag_for(form.version.data),
                role=form.role.data,
                active=bool(form.active.data),
            )
    except DomainError as error:
        return refused(error, people_page)
    flash(f"{person.name} is now {person.role}{'' if person.active else ', inactive'}.")
    return redirect(url_for("admin.people_page", q=person.email), code=303)


@blueprint.post("/people/<int:person_id>/password-reset")
def reset_password(person_id: int) -> Answer:
    try:
        with db.session.begin():
            person = people.get_person(db.session, person_id)
            one_time = accounts.admin_reset_password(db.session, person=person)
    except DomainError as error:
        return refused(error, people_page)
    return render_template("admin/one_time_password.html", person=person, password=one_time)


@blueprint.get("/teams")
def teams_page() -> str:
    text = text_arg("q")
    found = teams.list_teams(db.session, page=page_number(), limit=PAGE_SIZE, text=text)
    return render_template("admin/teams.html", page=found, q=text or "", form=TeamForm())


@blueprint.post("/teams")
def create_team() -> Answer:
    form = TeamForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with db.session.begin():
            team = teams.create_team(
                db.session, name=form.name.data, description=form.description.data or ""
            )
    except DomainError as error:
        return refused(error, teams_page)
    return redirect(url_for("admin.team_page", team_id=team.id), code=303)


@blueprint.get("/teams/<int:team_id>")
def team_page(team_id: int) -> str:
    session = db.session
    return render_template(
        "admin/team.html",
        team=teams.get_team(session, team_id),
        members=teams.members(session, team_id),
        form=MemberForm(),
        remove_form=MemberRemoveForm(),
    )


@blueprint.post("/teams/<int:team_id>/members")
def add_member(team_id: int) -> Answer:
    form = MemberForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with db.session.begin():
            person = people.get_by_email(db.session, form.email.data)
            teams.add_member(
                db.session,
                team_id=team_id,
                person_id=person.id,
                is_manager=bool(form.manager.data),
                if_match=etag_for(form.version.data),
            )
    except DomainError as error:
        return refused(error, lambda: team_page(team_id))
    return redirect(url_for("admin.team_page", team_id=team_id), code=303)


@blueprint.post("/teams/<int:team_id>/members/remove")
def remove_member(team_id: int) -> Answer:
    form = MemberRemoveForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with db.session.begin():
            teams.remove_member(
                db.session,
                team_id=team_id,
                person_id=form.person_id.data,
                if_match=etag_for(form.version.data),
            )
    except DomainError as error:
        return refused(error, lambda: team_page(team_id))
    return redirect(url_for("admin.team_page", team_id=team_id), code=303)


@blueprint.get("/skills")
def skills_page() -> str:
    return render_template("admin/skill.html", skill=None, form=SkillForm())


@blueprint.get("/skills/<int:skill_id>")
def skill_page(skill_id: int) -> str:
    skill = skills.get_skill(db.session, skill_id)
    form = SkillForm(
        name=skill.name,
        category=skill.category,
        description=skill.description,
        aliases=", ".join(alias.alias for alias in skill.aliases),
        deprecated=skill.deprecated,
        version=skill.version,
    )
    return render_template("admin/skill.html", skill=skill, form=form)


@blueprint.post("/skills")
def create_skill() -> Answer:
    form = SkillForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        with db.session.begin():
            skill = skills.create_skill(
                db.session,
                name=form.name.data,
                category=form.category.data,
                description=form.description.data or "",
                aliases=_aliases(form.aliases.data),
            )
    except DomainError as error:
        return refused(error, lambda: render_template("admin/skill.html", skill=None, form=form))
    flash(f"{skill.name} was added to the catalogue.")
    return redirect(url_for("web.skill_page", skill_id=skill.id), code=303)


@blueprint.post("/skills/<int:skill_id>")
def update_skill(skill_id: int) -> Answer:
    form = SkillForm()
    try:
        if not form.validate_on_submit() or form.version.data is None:
            raise invalid_form(form)
        with db.session.begin():
            skills.update_skill(
                db.session,
                skill_id=skill_id,
                if_match=etag_for(form.version.data),
                name=form.name.data,
                category=form.category.data,
                description=form.description.data or "",
                aliases=_aliases(form.aliases.data),
                deprecated=bool(form.deprecated.data),
            )
    except DomainError as error:
        return refused(error, lambda: skill_page(skill_id))
    flash("Saved.")
    return redirect(url_for("web.skill_page", skill_id=skill_id), code=303)


def _aliases(raw: str | None) -> list[str]:
    return [alias.strip() for alias in (raw or "").split(",") if alias.strip()]


@blueprint.get("/data")
def data_page() -> str:
    return render_template("admin/data.html", form=ImportForm(), report=None, line_errors=[])


@blueprint.post("/data/import")
def import_data() -> Answer:
    form = ImportForm()
    try:
        if not form.validate_on_submit():
            raise invalid_form(form)
        text = matrix.decode_upload(form.file.data.read())
        with db.session.begin():
            report = matrix_import.import_csv(
                db.session,
                text,
                actor_id=require_principal().person_id,
                max_lines=current_app.config["SKILLS_SETTINGS"].import_max_lines,
            )
    except ImportRejected as rejected:
        page = render_template(
            "admin/data.html", form=form, report=None, line_errors=rejected.line_errors
        )
        return page, status_for(rejected)
    except DomainError as error:
        return refused(error, data_page)
    return render_template("admin/data.html", form=ImportForm(), report=report, line_errors=[])


@blueprint.get("/tokens")
def tokens_page() -> str:
    found = tokens.active_tokens(db.session, now=utcnow(), page=page_number(), limit=PAGE_SIZE)
    return render_template("admin/tokens.html", page=found, confirm=ConfirmForm())


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Answer:
    try:
        with db.session.begin():
            tokens.revoke_token(db.session, token_id=token_id)
    except DomainError as error:
        return refused(error, tokens_page)
    flash("The token was revoked.")
    return redirect(url_for("admin.tokens_page"), code=303)


@blueprint.get("/audit")
def audit_page() -> str:
    actor = text_arg("actor", max_length=12)
    actor_id = ascii_int(actor) if actor else None
    if actor is not None and not actor_id:
        abort(400, "actor must be a person's number.")
    filters = audit.EventFilter(
        actor_id=actor_id,
        action=text_arg("action", max_length=64),
        target_type=text_arg("target_type", max_length=32),
        target_id=text_arg("target_id", max_length=64),
    )
    found = audit.events(db.session, filters, page=page_number(), limit=PAGE_SIZE)
    return render_template("admin/audit.html", page=found, filters=filters)
