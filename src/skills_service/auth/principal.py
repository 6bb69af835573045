"""Resolve the request's principal from its credentials, once per request.

Credentials, in order: an ``Authorization: Bearer`` personal access token
(``sks_...``) or OIDC access token (a JWT), else the browser session cookie.

A token's or a session's principal is served from its snapshot (``caching``) while
the snapshot's epochs are current, read with the route's data versions in one round
trip; otherwise it is read from the database and the snapshot is remembered. An OIDC
access token is verified and looked up on every request.
"""

from __future__ import annotations

import time
from dataclasses import replace

from flask import Flask, current_app, g, request
from flask.globals import request_ctx
from sqlalchemy import select
from sqlalchemy.orm import Session

from skills_service import caching, pipeline
from skills_service.auth import jwt_bearer, login, sessions
from skills_service.caching import Snapshot
from skills_service.caching.versions import principal_epochs
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


def _principal(snapshot: Snapshot, *, recently_authenticated: bool = False) -> Principal:
    return Principal(
        person_id=snapshot.person_id,
        role=Role(snapshot.role),
        scopes=frozenset(Scope(scope) for scope in snapshot.scopes),
        managed_team_ids=frozenset(snapshot.managed_team_ids),
        recently_authenticated=recently_authenticated,
    )


def _from_bearer(secret: str) -> Principal:
    if secret.startswith(tokens.PREFIX):
        g.credential = "token"
        return _principal(_token_snapshot(secret))
    g.credential = "jwt"
    return _from_jwt(db.session, secret)


def _token_key(secret: str) -> str:
    return "token:" + tokens.hash_secret(secret)


def token_credential() -> str | None:
    """The cache's key for the API token the request carries, if it is well formed."""
    try:
        secret = _bearer_secret()
    except InvalidCredentials:
        return None
    if secret is None or not secret.startswith(tokens.PREFIX) or not tokens.well_formed(secret):
        return None
    return _token_key(secret)


def request_credential() -> str | None:
    """The cache's key for the principal the request names: its API token when it sends
    one, else its signed-in browser session; the rate limits are spent in that read."""
    if request.headers.get("Authorization") is not None:
        return token_credential()
    signed_in = _signed_in_session()
    return None if signed_in is None else sessions.cache_key(signed_in[0])


def _signed_in_session() -> tuple[sessions.ServerSession, int] | None:
    """The request's browser session and its person, when someone is signed in."""
    web = request_ctx.session
    if not isinstance(web, sessions.ServerSession) or web.person_id is None:
        return None
    return web, web.person_id


def _token_snapshot(secret: str) -> Snapshot:
    """The token's snapshot; its use recorded at most once per resolution."""
    if not tokens.well_formed(secret):
        raise InvalidCredentials()
    cache = caching.current()
    credential = _token_key(secret)
    snapshot = cache.read(credential).snapshot
    now = time.time()
    if snapshot is None:
        owner = tokens.authenticate(db.session, secret)
        if owner is None:
            raise InvalidCredentials()
        snapshot = Snapshot(
            person_id=owner.person.id,
            role=owner.person.role,
            scopes=tuple(sorted(scope.value for scope in tokens.token_scopes(owner.token))),
            managed_team_ids=tuple(sorted(owner.managed_team_ids)),
            person_epoch=owner.person_epoch,
            principals_epoch=owner.principals_epoch,
            token_id=owner.token.id,
            expires_at=owner.token.expires_at.timestamp(),
        )
        cache.remember(credential, snapshot)
    elif snapshot.token_id is not None and now - snapshot.used_at >= tokens.LAST_USED_SECONDS:
        tokens.record_use(db.session, token_id=snapshot.token_id)
        snapshot = replace(snapshot, used_at=now)
        cache.remember(credential, snapshot)
    return snapshot


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


def _person_snapshot(person_id: int) -> Snapshot | None:
    """A signed-in person's snapshot, read from the database; None if inactive or gone."""
    rows = db.session.execute(
        teams.managing(select(Person, *principal_epochs()).where(Person.id == person_id))
    ).all()
    person = rows[0][0] if rows else None
    if person is None or not person.active:
        return None
    return Snapshot(
        person_id=person.id,
        role=person.role,
        scopes=(Scope.READ.value, Scope.WRITE.value),
        managed_team_ids=tuple(sorted(teams.managed_ids(rows))),
        person_epoch=rows[0].person_epoch,
        principals_epoch=rows[0].principals_epoch,
        session_epoch=person.session_epoch,
        required_step=login.required_step(person),
    )


def _from_session() -> Principal | None:
    signed_in = _signed_in_session()
    if signed_in is None:
        return None
    web, person_id = signed_in
    cache = caching.current()
    credential = sessions.cache_key(web)
    snapshot = cache.read(credential).snapshot
    if snapshot is None:
        snapshot = _person_snapshot(person_id)
        if snapshot is not None and credential is not None:
            cache.remember(credential, snapshot)
    if snapshot is None or snapshot.session_epoch != web.record.epoch:
        sessions.end(web)
        return None
    g.required_step = snapshot.required_step
    return _principal(snapshot, recently_authenticated=sessions.recently_authenticated(web))


def load_principal() -> None:
    """Before the view: set ``g.principal`` from the credentials, or leave it None."""
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
    pipeline.before(app, load_principal)
