"""``/login``, ``/login/mfa`` and ``/logout``."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from skills_service.auth import login, sessions
from skills_service.auth.forms import LoginForm, SecondFactorForm

blueprint = Blueprint("auth", __name__)


@blueprint.route("/login", methods=["GET", "POST"])
def login_page() -> str | login.Answer:
    form = LoginForm()
    if request.method == "GET" and (target := login.safe_next(request.args.get("next"))):
        login.server_session()[login.NEXT] = target
    if not form.validate_on_submit():
        return login.login_page(), 422 if form.is_submitted() else 200
    return login.sign_in_with_password(
        email=form.email.data or "", password=form.password.data or "", code=form.code.data or ""
    )


@blueprint.route("/login/mfa", methods=["GET", "POST"])
def login_mfa() -> str | login.Answer:
    pending = login.pending_sign_in()
    if pending is None:
        return redirect(url_for("auth.login_page"))
    form = SecondFactorForm()
    if not form.validate_on_submit():
        page = render_template("auth/login_mfa.html", form=form)
        return page, 422 if form.is_submitted() else 200
    return login.sign_in_with_code(pending, form.code.data or "")


@blueprint.post("/logout")
def logout() -> Response:
    """Ends this session (the CSRF check has already run for this POST)."""
    sessions.end(login.server_session())
    return redirect(url_for("auth.login_page"))
