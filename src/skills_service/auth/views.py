"""``/login``, ``/login/mfa`` and ``/logout``."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from skills_service.auth import login, sessions
from skills_service.auth.forms import LoginForm, SecondFactorForm
from skills_service.extensions import db
from skills_service.services import accounts, mfa, people

blueprint = Blueprint("auth", __name__)
FAILED = "The email address or password is not correct."


@blueprint.route("/login", methods=["GET", "POST"])
def login_page() -> str | Response | tuple[str, int]:
    form = LoginForm()
    if request.method == "GET" and (target := login.safe_next(request.args.get("next"))):
        login.server_session()[login.NEXT] = target
    if not form.validate_on_submit():
        page = render_template("auth/login.html", form=form, sso=_sso_enabled())
        return page, 422 if form.is_submitted() else 200
    session = db.session
    with session.begin():
        person = accounts.authenticate_password(
            session, email=form.email.data or "", password=form.password.data or ""
        )
    if person is None:
        return render_template("auth/login.html", form=form, sso=_sso_enabled(), error=FAILED), 401
    return login.after_first_factor(person)


@blueprint.route("/login/mfa", methods=["GET", "POST"])
def login_mfa() -> str | Response | tuple[str, int]:
    person_id = login.pending_mfa_person_id()
    if person_id is None:
        return redirect(url_for("auth.login_page"))
    form = SecondFactorForm()
    if not form.validate_on_submit():
        page = render_template("auth/login_mfa.html", form=form)
        return page, 422 if form.is_submitted() else 200
    session = db.session
    with session.begin():
        person = people.get_person(session, person_id)
        accepted = mfa.verify_second_factor(
            session,
            person=person,
            code=form.code.data or "",
            secret_key=current_app.config["SECRET_KEY"],
        )
    if not accepted:
        return render_template(
            "auth/login_mfa.html", form=form, error="That code is not valid."
        ), 401
    return login.after_second_factor(person)


@blueprint.route("/logout", methods=["POST"])
def logout() -> Response:
    """Ends this session (the CSRF check has already run for this POST)."""
    sessions.end(login.server_session())
    return redirect(url_for("auth.login_page"))


def _sso_enabled() -> bool:
    return bool(current_app.config["SKILLS_SETTINGS"].oidc_enabled)
