"""``/account``: password, two-factor authentication, API tokens, sign out everywhere."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from skills_service import policy
from skills_service.auth import login, sessions, step_up
from skills_service.auth.forms import (
    ConfirmPasswordForm,
    EnrolmentForm,
    PasswordChangeForm,
    SignOutEverywhereForm,
    TokenForm,
)
from skills_service.auth.principal import require_principal
from skills_service.errors import InvalidInput, ReauthenticationRequired
from skills_service.extensions import db
from skills_service.models.base import utcnow
from skills_service.policy import Action
from skills_service.services import accounts, mfa, people, tokens

blueprint = Blueprint("account", __name__, url_prefix="/account")
PENDING_TOTP = "pending_totp_secret"


@blueprint.get("")
def overview() -> str:
    principal = require_principal()
    session = db.session
    person = people.get_person(session, principal.person_id)
    return render_template(
        "auth/account.html",
        person=person,
        tokens=tokens.tokens_of(session, person.id),
        may_manage_tokens=policy.allows(principal, Action.MANAGE_OWN_TOKENS),
        recovery_codes_left=mfa.remaining_recovery_codes(session, person.id),
        token_form=TokenForm(),
        now=utcnow(),
        new_token=session_pop("new_token"),
    )


@blueprint.route("/confirm", methods=["GET", "POST"])
def confirm() -> str | login.Answer:
    """Confirm the password (or, without one, single sign-on) before a step-up action."""
    person_id = require_principal().person_id
    with db.session.begin():
        has_password = people.get_person(db.session, person_id).password_hash is not None
    target = login.safe_next(request.args.get("next")) or url_for("account.overview")
    form = ConfirmPasswordForm()
    if not has_password:
        login.server_session()[login.NEXT] = target
        return step_up.confirmation_page(form, target=target, sso_only=True)
    if not form.validate_on_submit():
        page = step_up.confirmation_page(form, target=target)
        return page, 422 if form.is_submitted() else 200
    return step_up.confirm_password(
        form, person_id=person_id, password=form.password.data or "", target=target
    )


@blueprint.app_errorhandler(ReauthenticationRequired)
def ask_for_confirmation(error: ReauthenticationRequired) -> Response:
    return step_up.ask_for_confirmation(error)


@blueprint.route("/password", methods=["GET", "POST"])
def change_password() -> str | login.Answer:
    """The current password in the form is this change's re-authentication."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return render_template("auth/password.html", form=form)
    session = db.session
    try:
        with session.begin():
            person = people.get_person(session, require_principal().person_id)
            if (refused := step_up.seconds_refused(person.email)) is not None:
                errors = {"current_password": [step_up.GUARDED]}
                page = render_template("auth/password.html", form=form, errors=errors)
                return page, 429, {"Retry-After": str(refused)}
            accounts.change_password(
                session,
                person=person,
                current_password=form.current_password.data or "",
                new_password=form.new_password.data or "",
            )
    except InvalidInput as exc:
        if "current_password" in exc.errors:
            step_up.record_wrong_password(person.email)
        return render_template("auth/password.html", form=form, errors=exc.errors), 422
    # Every other session ended with the epoch bump; this one continues under a new id.
    sessions.rotate(login.server_session(), person_id=person.id, epoch=person.session_epoch)
    flash("Your password was changed and every other session was signed out.")
    return redirect(url_for("account.overview"))


@blueprint.route("/mfa", methods=["GET", "POST"])
def enrol_mfa() -> str | Response | tuple[str, int]:
    person_id = require_principal().person_id
    form = EnrolmentForm()
    pending = login.server_session().get(PENDING_TOTP)
    if pending is None or not form.is_submitted():
        return _enrolment_page(form, person_id, secret=None)
    if not form.validate_on_submit():
        return _enrolment_page(form, person_id, secret=pending), 422
    session = db.session
    with session.begin():
        person = people.get_person(session, person_id)
        codes = mfa.confirm_enrolment(
            session,
            person=person,
            secret=pending,
            code=form.code.data or "",
            secret_key=current_app.config["SECRET_KEY"],
        )
    if not codes:
        error = "That code is not valid; try the next one."
        return _enrolment_page(form, person_id, secret=pending, error=error), 422
    # A new second factor is a new privilege level: a new session id.
    sessions.rotate(login.server_session(), person_id=person_id, epoch=person.session_epoch)
    return render_template("auth/recovery_codes.html", codes=codes)


def _enrolment_page(
    form: EnrolmentForm, person_id: int, *, secret: str | None, error: str | None = None
) -> str:
    """The QR code for a new secret (or the pending one again), remembered in the session."""
    enrolment = mfa.begin_enrolment(person=people.get_person(db.session, person_id), secret=secret)
    login.server_session()[PENDING_TOTP] = enrolment.secret
    return render_template("auth/mfa.html", form=form, enrolment=enrolment, error=error)


@blueprint.post("/tokens")
def create_token() -> Response | tuple[str, int]:
    principal = require_principal()
    policy.require(principal, Action.CREATE_OWN_TOKEN)
    form = TokenForm()
    if not form.validate_on_submit():
        flash("The token was not created: check the name, scopes and expiry.")
        return redirect(url_for("account.overview"))
    session = db.session
    with session.begin():
        issued = tokens.create_token(
            session,
            person=people.get_person(session, principal.person_id),
            name=form.name.data or "",
            scopes=form.scopes.data or ["read"],
            expires_days=form.expires_days.data or 90,
            max_days=current_app.config["SKILLS_SETTINGS"].token_max_days,
        )
    login.server_session()["new_token"] = issued.secret
    return redirect(url_for("account.overview"))


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Response:
    principal = require_principal()
    policy.require(principal, Action.MANAGE_OWN_TOKENS)
    with db.session.begin():
        tokens.revoke_token(db.session, token_id=token_id, owner_id=principal.person_id)
    flash("The token was revoked.")
    return redirect(url_for("account.overview"))


@blueprint.post("/sign-out-everywhere")
def sign_out_everywhere() -> Response:
    """End every session; with the box ticked (as it is by default), revoke every token."""
    form = SignOutEverywhereForm()
    session = db.session
    with session.begin():
        person = people.get_person(session, require_principal().person_id)
        people.end_sessions(person)
        if form.validate_on_submit() and form.revoke_tokens.data:
            tokens.revoke_tokens_of(session, person_id=person.id)
    sessions.store_of(current_app).delete_for_person(person.id)
    sessions.end(login.server_session())
    return redirect(url_for("auth.login_page"))


def session_pop(key: str) -> str | None:
    """Show a value once (the new token's secret), then forget it."""
    value = session.pop(key, None)
    return value if isinstance(value, str) else None
