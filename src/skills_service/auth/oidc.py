"""Single sign-on: OpenID Connect authorization code flow with PKCE (Authlib).

Authlib keeps ``state``, ``nonce`` and the PKCE verifier in the (server-side)
session, checks ``state`` on return, and verifies the ID token's signature against
the issuer's JWKS along with ``iss``, ``aud``, ``exp`` and ``nonce``. This module
only maps the verified claims to a person (``services/identities.py``) and hands
the sign-in to ``auth/login.py``, which asks for a local second factor when the
account has one.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, request, url_for
from werkzeug.wrappers import Response

from skills_service.auth import login
from skills_service.errors import Conflict, NotFound, Unauthenticated
from skills_service.extensions import db
from skills_service.services import identities
from skills_service.settings import Settings

log = logging.getLogger(__name__)
blueprint = Blueprint("oidc", __name__, url_prefix="/login/sso")
EXTENSION_KEY = "skills_service.oidc"
CLIENT_NAME = "sso"
METHOD = "single sign-on"


class SingleSignOnFailed(Unauthenticated):
    pass


@blueprint.errorhandler(Unauthenticated)
def refused(error: Unauthenticated) -> tuple[str, int]:
    """A refused sign-on (here or in ``identities``) is the sign-in page saying why, not
    the redirect every other 401 page gets: that would drop the reason and carry the
    callback's code and state into ``next``."""
    return login.login_page(error=error.detail), 401


def _client() -> Any:
    oauth: OAuth | None = current_app.extensions.get(EXTENSION_KEY)
    if oauth is None:
        raise NotFound("Single sign-on is not configured.")
    return oauth.create_client(CLIENT_NAME)


@blueprint.get("")
def start() -> Response:
    """To the provider; ``?reauthenticate=1`` (a step-up) asks it to authenticate anew."""
    fresh = {"prompt": "login", "max_age": 0} if request.args.get("reauthenticate") else {}
    callback_url = url_for("oidc.callback", _external=True)
    response: Response = _client().authorize_redirect(callback_url, **fresh)
    return response


@blueprint.get("/callback")
def callback() -> Response:
    settings: Settings = current_app.config["SKILLS_SETTINGS"]
    try:
        token = _client().authorize_access_token()
    except OAuthError as exc:
        log.info("single sign-on refused", extra={"oauth_error": exc.error})
        raise SingleSignOnFailed("Single sign-on did not complete; please try again.") from None
    claims = token.get("userinfo") or {}
    identity = identities.identity_from_claims(claims, role_claim=settings.oidc_role_claim)
    session = db.session
    try:
        with session.begin():
            sign_on = identities.sign_on(
                session,
                identity,
                roles=identities.RoleMapping(settings.oidc_roles(), settings.oidc_default_role),
            )
    except Conflict as exc:
        log.info("single sign-on could not link an account")
        raise SingleSignOnFailed(exc.detail) from None
    return login.after_first_factor(
        sign_on.person,
        method=METHOD,
        identity_to_bind=identity if sign_on.bind_after_second_factor else None,
    )


def init_app(app: Flask, settings: Settings) -> None:
    """Register the provider from ``SKILLS_OIDC_*``; without them SSO stays off."""
    if not settings.oidc_enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=(
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        ),
        server_metadata_url=f"{str(settings.oidc_issuer).rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "timeout": 5,
        },
    )
    app.extensions[EXTENSION_KEY] = oauth
