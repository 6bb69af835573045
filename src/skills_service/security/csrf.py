"""CSRF defence for every state-changing browser request.

Two independent checks, both required: the request must come from our own origin
(``Sec-Fetch-Site``/``Origin``), and it must carry the session's synchronizer token
(Flask-WTF: form field ``csrf_token`` or header ``X-CSRFToken``). Requests that
authenticate with a bearer token carry no ambient authority and are exempt; an
API request with no credentials at all is left to the 401 of the route policy.
"""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFError

from skills_service import pipeline
from skills_service.auth.principal import authenticated_by_bearer, current_principal
from skills_service.errors import Forbidden
from skills_service.extensions import csrf

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_VALUES = frozenset({"same-origin", "none"})


class CrossSiteRequest(Forbidden):
    pass


def check_origin() -> None:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in SAME_SITE_VALUES:
        raise CrossSiteRequest("Cross-site requests are not accepted.")
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        raise CrossSiteRequest("Cross-origin requests are not accepted.")


def protect() -> None:
    """Before the view, after the principal is known."""
    if request.method not in UNSAFE_METHODS or authenticated_by_bearer():
        return
    if request.path.startswith("/api/") and current_principal() is None:
        return
    check_origin()
    try:
        csrf.protect()
    except CSRFError:
        raise CrossSiteRequest(
            "The form has expired or did not come from this site; reload the page and try again."
        ) from None


def init_app(app: Flask) -> None:
    app.config.update(WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None)
    csrf.init_app(app)
    pipeline.before(app, protect)
