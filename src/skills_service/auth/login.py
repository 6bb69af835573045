"""The steps of a browser sign-in, shared by password and single sign-on logins."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from skills_service.auth import sessions
from skills_service.database import database_sessions
from skills_service.errors import Forbidden
from skills_service.extensions import db
from skills_service.models import Person
from skills_service.policy import Role
from skills_service.services import audit, identities

PENDING_MFA = "pending_mfa"
PENDING_MFA_SECONDS = 300
NEXT = "next"


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


def pending_mfa_person_id() -> int | None:
    pending = server_session().get(PENDING_MFA)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > PENDING_MFA_SECONDS:
        server_session().pop(PENDING_MFA, None)
        return None
    person_id = pending.get("person_id")
    return person_id if isinstance(person_id, int) else None


def complete(person: Person, *, method: str) -> Response:
    """Signed in: a fresh session id bound to the person's current session epoch."""
    audit.record_now(
        database_sessions(current_app),
        "login.succeeded",
        target_type="person",
        target_id=person.id,
        after={"method": method},
    )
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


STEP_EXEMPT_ENDPOINTS = frozenset({"auth.logout", "static"})


def enforce_required_step() -> Response | None:
    """``before_request``: a one-time password or missing admin MFA blocks everything else."""
    step: str | None = g.get("required_step")
    if step is None or request.endpoint in STEP_EXEMPT_ENDPOINTS or request.endpoint == step:
        return None
    if request.path.startswith("/api/"):
        raise Forbidden("Finish signing in first: " + step.split(".")[1].replace("_", " ") + ".")
    return redirect(url_for(step))


def init_app(app: Flask) -> None:
    app.before_request(enforce_required_step)
