"""Step-up: a recent re-authentication before the actions of ``policy.STEP_UP_ACTIONS``.

A sign-in, a password change, a second-factor enrolment and a confirmation at
``/account/confirm`` rotate the session id, which records the time in the
server-side session (``sessions.recently_authenticated``). A person without a
password (single sign-on only) confirms by a fresh round trip to the identity
provider, asked to authenticate them again (``prompt=login``, ``max_age=0``), which
signs them in anew.

Wrong confirmations spend the account's budget of wrong passwords, as sign-in
does: a stolen session cannot guess its owner's password any faster than a stranger.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from skills_service.auth import login, sessions
from skills_service.auth.forms import ConfirmPasswordForm
from skills_service.errors import ReauthenticationRequired
from skills_service.extensions import db
from skills_service.security import problems, sign_in_throttle
from skills_service.services import accounts, people

NOT_CONFIRMED = "That password is not correct."
GUARDED = "There have been too many wrong passwords for this account; try again later."


def confirmation_page(
    form: ConfirmPasswordForm, *, target: str, sso_only: bool = False, error: str | None = None
) -> str:
    return render_template(
        "auth/confirm.html", form=form, target=target, sso_only=sso_only, error=error
    )


def seconds_refused(email: str) -> int | None:
    """Seconds until the account's spent wrong-password budget lets this address try
    a password again, or None when it may try now."""
    account = sign_in_throttle.account_key(email)
    if not sign_in_throttle.guarded(sign_in_throttle.WRONG_PASSWORDS, account):
        return None
    return sign_in_throttle.seconds_until_refilled(sign_in_throttle.WRONG_PASSWORDS, account)


def record_wrong_password(email: str) -> None:
    account = sign_in_throttle.account_key(email)
    sign_in_throttle.record_failure(sign_in_throttle.WRONG_PASSWORDS, account)


def confirm_password(
    form: ConfirmPasswordForm, *, person_id: int, password: str, target: str
) -> login.Answer:
    session = db.session
    with session.begin():
        person = people.get_person(session, person_id)
        refused = seconds_refused(person.email)
        confirmed = refused is None and accounts.confirm_password(
            session, person=person, password=password
        )
    if refused is not None:
        page = confirmation_page(form, target=target, error=GUARDED)
        return page, 429, {"Retry-After": str(refused)}
    if not confirmed:
        record_wrong_password(person.email)
        return confirmation_page(form, target=target, error=NOT_CONFIRMED), 401
    sessions.rotate(login.server_session(), person_id=person.id, epoch=person.session_epoch)
    return redirect(target)


def ask_for_confirmation(error: ReauthenticationRequired) -> Response:
    """Browsers go to the confirmation page and come back; bearer callers get a 403."""
    if g.get("bearer") or not problems.wants_html():
        return problems.from_domain_error(error)
    back = request.full_path.rstrip("?") if request.method == "GET" else url_for("account.overview")
    return redirect(url_for("account.confirm", next=back))
