"""Resolve the request's principal from its credentials, once per request.

Credentials, in order: an ``Authorization: Bearer`` personal access token
(``sks_...``) or OIDC access token (a JWT), else the browser session cookie.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request, session
from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service.auth import jwt_bearer, login, sessions
from skills_service.errors import InvalidCredentials, Unauthenticated
from skills_service.extensions import db
from skills_service.models import Person
from skills_service.policy import SELF_AUTHENTICATED_ROUTES, Principal, Role, Scope
from skills_service.services import identities, teams, tokens
from skills_service.settings import Settings

JWKS_KEY = "skills_service.jwks"
JWT_WRITE_SCOPE = "skills:write"


def current_principal() -> Principal | None:
    principal: Principal | None = g.get("principal")
    return principal


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("Authentication is required.")
    return principal


def authenticated_by_bearer() -> bool:
    return bool(g.get("bearer"))


def _bearer_secret() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip() or len(header) > 8192:
        raise InvalidCredentials()
    return secret.strip()


def principal_for(person: Person, scopes: frozenset[Scope], managed: frozenset[int]) -> Principal:
    return Principal(
        person_id=person.id, role=Role(person.role), scopes=scopes, managed_team_ids=managed
    )


def _from_bearer(secret: str) -> Principal:
    session = db.session
    if secret.startswith(tokens.PREFIX):
        owner = tokens.authenticate(session, secret)
        if owner is None:
            raise InvalidCredentials()
        g.credential = "token"
        return principal_for(owner.person, tokens.token_scopes(owner.token), owner.managed_team_ids)
    g.credential = "jwt"
    return _from_jwt(session, secret)


def _from_jwt(session: Session, token: str) -> Principal:
    """An OIDC access token: verified against the issuer's keys, for a bound identity.

    Only a person whose account is already bound to the token's issuer and subject
    (by a browser sign-in) is found; any other token gets the same 401 as a bad one.
    It may read; it may write only when its ``scope`` claim grants ``skills:write``.
    """
    settings: Settings = current_app.config["SKILLS_SETTINGS"]
    cache: jwt_bearer.JwksCache | None = current_app.extensions.get(JWKS_KEY)
    if cache is None or settings.oidc_issuer is None or settings.oidc_audience is None:
        raise InvalidCredentials()
    claims = jwt_bearer.verify_access_token(
        token, jwks=cache, issuer=settings.oidc_issuer, audience=settings.oidc_audience
    )
    identity = identities.identity_from_claims(claims, role_claim=settings.oidc_role_claim)
    try:
        person = identities.person_for_access_token(
            session,
            identity,
            roles=identities.RoleMapping(settings.oidc_roles(), settings.oidc_default_role),
        )
    except Unauthenticated:
        raise InvalidCredentials() from None
    granted = str(claims.get("scope", "")).split()
    scopes = {Scope.READ} | ({Scope.WRITE} if JWT_WRITE_SCOPE in granted else set())
    managed = teams.managed_ids(
        session.execute(teams.managing(select(Person.id).where(Person.id == person.id))).all()
    )
    return principal_for(person, frozenset(scopes), managed)


def _from_session() -> Principal | None:
    web = session
    if not isinstance(web, sessions.ServerSession) or web.person_id is None:
        return None
    rows = db.session.execute(
        teams.managing(select(Person).where(Person.id == web.person_id))
    ).all()
    person = rows[0][0] if rows else None
    if person is None or not person.active or person.session_epoch != web.record.epoch:
        sessions.end(web)
        return None
    g.required_step = login.required_step(person)
    return Principal(
        person_id=person.id,
        role=Role(person.role),
        scopes=frozenset({Scope.READ, Scope.WRITE}),
        managed_team_ids=teams.managed_ids(rows),
        recently_authenticated=sessions.recently_authenticated(web),
    )


def load_principal() -> None:
    """``before_request``: set ``g.principal`` from the credentials, or leave it None."""
    g.principal = None
    if request.endpoint in SELF_AUTHENTICATED_ROUTES:
        return
    secret = _bearer_secret()
    if secret is not None:
        g.bearer = True
        g.principal = _from_bearer(secret)
    else:
        g.principal = _from_session()
        g.credential = "session" if g.principal is not None else "anonymous"
    # End the transaction (and record a token's use, by its principal), so each view
    # starts its own unit of work.
    session = db.session_in_use()
    if session is not None:
        session.commit()


def init_app(app: Flask, settings: Settings) -> None:
    if settings.oidc_issuer and settings.oidc_audience:
        app.extensions[JWKS_KEY] = jwt_bearer.JwksCache(settings.oidc_issuer)
    app.before_request(load_principal)
