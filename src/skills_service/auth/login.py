"""The steps of a browser sign-in, shared by password and single sign-on logins."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from skills_service import pipeline
from skills_service.auth import sessions
from skills_service.auth.forms import LoginForm, SecondFactorForm
from skills_service.database import database_sessions
from skills_service.errors import Forbidden
from skills_service.extensions import db
from skills_service.models import Person
from skills_service.policy import Role
from skills_service.security import sign_in_throttle
from skills_service.services import accounts, audit, identities, mfa, people

PENDING_MFA = "pending_mfa"
PENDING_MFA_SECONDS = 300
NEXT = "next"
FAILED = "The email address or password is not correct."
WRONG_CODE = "That code is not valid."
TOO_MANY_CODES = "Too many codes that were not valid: sign in again."
ACCOUNT_GUARDED = (
    "There have been too many failed sign-ins for this account. Enter your password "
    "together with a code from your authenticator app (or a recovery code), or try again later."
)
CODES_GUARDED = "There have been too many codes that were not valid for this account; try later."
Answer = Response | tuple[str, int] | tuple[str, int, dict[str, str]]


def safe_next(target: str | None) -> str | None:
    """Only a local absolute path: never another host (open redirect) or a scheme."""
    if not target or len(target) > 2000:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 for char in target):
        return None
    return target


def server_session() -> sessions.ServerSession:
    web = session
    if not isinstance(web, sessions.ServerSession):
        raise TypeError("server-side sessions are not configured")
    return web


@dataclass(frozen=True)
class PendingSignIn:
    """A password accepted, the second factor still to come."""

    id: str
    person_id: int


def sign_in_with_password(*, email: str, password: str, code: str) -> Answer:
    """The password step (see ``sign_in_throttle`` for the budgets it checks)."""
    account = sign_in_throttle.account_key(email)
    guarded = sign_in_throttle.guarded(sign_in_throttle.WRONG_PASSWORDS, account)
    session = db.session
    with session.begin():
        person = accounts.authenticate_password(session, email=email, password=password)
        if guarded and person is not None and not _second_factor_accepted(person, code):
            person = None
    if person is None:
        sign_in_throttle.record_failure(sign_in_throttle.WRONG_PASSWORDS, account)
    if guarded and person is None:
        retry = sign_in_throttle.seconds_until_refilled(sign_in_throttle.WRONG_PASSWORDS, account)
        page = login_page(error=ACCOUNT_GUARDED, code_required=True)
        return page, 429, {"Retry-After": str(retry)}
    if person is None:
        return login_page(error=FAILED), 401
    if guarded:
        return complete(person, method="password and second factor")
    return after_first_factor(person)


def _second_factor_accepted(person: Person, code: str) -> bool:
    """A code given along with the password, for an account whose budget is spent."""
    account = sign_in_throttle.account_key(person.email)
    if person.mfa_enabled_at is None or not code:
        audit.record(
            db.session,
            "login.failed",
            target_type="person",
            target_id=person.id,
            after={"method": "password", "reason": "second factor needed"},
        )
        return False
    if sign_in_throttle.guarded(sign_in_throttle.WRONG_CODES, account):
        return False
    accepted = mfa.verify_second_factor(
        db.session, person=person, code=code, secret_key=current_app.config["SECRET_KEY"]
    )
    if not accepted:
        sign_in_throttle.record_failure(sign_in_throttle.WRONG_CODES, account)
    return accepted


def after_first_factor(
    person: Person,
    *,
    method: str = "password",
    identity_to_bind: identities.ExternalIdentity | None = None,
) -> Response:
    """First factor (password or single sign-on) accepted: ask for the second, or finish.

    ``identity_to_bind`` is a single sign-on identity that is bound to the account
    only once its local second factor has been passed.
    """
    if person.mfa_enabled_at is not None:
        web = server_session()
        web[PENDING_MFA] = {
            "id": secrets.token_urlsafe(16),
            "person_id": person.id,
            "at": time.time(),
            "method": method,
            "identity": identity_to_bind.as_dict() if identity_to_bind else None,
        }
        return redirect(url_for("auth.login_mfa"))
    return complete(person, method=method)


def after_second_factor(person: Person) -> Response:
    """Second factor accepted: bind the pending single sign-on identity, if any, and finish."""
    pending = server_session().get(PENDING_MFA) or {}
    identity = pending.get("identity")
    if identity is not None:
        settings = current_app.config["SKILLS_SETTINGS"]
        session = db.session
        with session.begin():
            person = identities.bind(
                session,
                person_id=person.id,
                identity=identities.ExternalIdentity.from_dict(identity),
                roles=identities.RoleMapping(settings.oidc_roles(), settings.oidc_default_role),
            )
    return complete(person, method=f"{pending.get('method', 'password')} and second factor")


def pending_sign_in() -> PendingSignIn | None:
    pending = server_session().get(PENDING_MFA)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > PENDING_MFA_SECONDS:
        server_session().pop(PENDING_MFA, None)
        return None
    pending_id, person_id = pending.get("id"), pending.get("person_id")
    if not isinstance(pending_id, str) or not isinstance(person_id, int):
        return None
    return PendingSignIn(id=pending_id, person_id=person_id)


def sign_in_with_code(pending: PendingSignIn, code: str) -> Answer:
    """The second-factor step: a few tries per pending sign-in, a budget per account."""
    session = db.session
    with session.begin():
        email = people.get_person(session, pending.person_id).email
    account = sign_in_throttle.account_key(email)
    if sign_in_throttle.guarded(sign_in_throttle.WRONG_CODES, account):
        server_session().pop(PENDING_MFA, None)
        retry = sign_in_throttle.seconds_until_refilled(sign_in_throttle.WRONG_CODES, account)
        return login_page(error=CODES_GUARDED), 429, {"Retry-After": str(retry)}
    if not sign_in_throttle.try_code(pending.id):
        server_session().pop(PENDING_MFA, None)
        return login_page(error=TOO_MANY_CODES), 401
    with session.begin():
        person = people.get_person(session, pending.person_id)
        accepted = mfa.verify_second_factor(
            session, person=person, code=code, secret_key=current_app.config["SECRET_KEY"]
        )
    if accepted:
        return after_second_factor(person)
    sign_in_throttle.record_failure(sign_in_throttle.WRONG_CODES, account)
    if not sign_in_throttle.has_tries_left(pending.id):
        server_session().pop(PENDING_MFA, None)
        return login_page(error=TOO_MANY_CODES), 401
    return render_template("auth/login_mfa.html", form=SecondFactorForm(), error=WRONG_CODE), 401


def login_page(*, error: str | None = None, code_required: bool = False) -> str:
    sso = bool(current_app.config["SKILLS_SETTINGS"].oidc_enabled)
    return render_template(
        "auth/login.html", form=LoginForm(), sso=sso, error=error, code_required=code_required
    )


def complete(person: Person, *, method: str) -> Response:
    """Signed in: a fresh session id bound to the person's current session epoch."""
    audit.record_now(
        database_sessions(current_app),
        "login.succeeded",
        target_type="person",
        target_id=person.id,
        after={"method": method},
    )
    sign_in_throttle.remember_address(sign_in_throttle.account_key(person.email))
    web = server_session()
    target = safe_next(web.get(NEXT))
    sessions.rotate(web, person_id=person.id, epoch=person.session_epoch)
    web.pop(NEXT, None)
    step = required_step(person)
    return redirect(url_for(step) if step else target or url_for("web.my_skills"))


def required_step(person: Person) -> str | None:
    """The page a signed-in person must visit before anything else, if any."""
    if person.must_change_password:
        return "account.change_password"
    settings = current_app.config["SKILLS_SETTINGS"]
    if settings.require_admin_mfa and person.role == Role.ADMIN and person.mfa_enabled_at is None:
        return "account.enrol_mfa"
    return None


STEP_EXEMPT_ENDPOINTS = frozenset({"auth.logout", "account.confirm", "static"})


def enforce_required_step() -> Response | None:
    """Before the view: a one-time password or missing admin MFA blocks everything else."""
    step: str | None = g.get("required_step")
    if step is None or request.endpoint in STEP_EXEMPT_ENDPOINTS or request.endpoint == step:
        return None
    if request.path.startswith("/api/"):
        raise Forbidden("Finish signing in first: " + step.split(".")[1].replace("_", " ") + ".")
    return redirect(url_for(step))


def init_app(app: Flask) -> None:
    pipeline.before(app, enforce_required_step)
