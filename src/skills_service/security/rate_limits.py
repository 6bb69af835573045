"""Rate limits (Flask-Limiter), shared through Redis when it is configured.

Every request counts against two budgets, checked before authentication so that
even a flood of bad credentials is bounded:

* per credential (``SKILLS_RATELIMIT_DEFAULT``): the bearer token or session cookie
  it carries, hashed; a request without one counts against its address instead;
* per address (``SKILLS_RATELIMIT_PER_ADDRESS``): the client address, as trusted
  proxies report it (an office behind one NAT shares it, so it is the larger one).

Sign-in has its own limits per address and per (account, address)
(``SKILLS_LOGIN_RATE_LIMIT``), and token creation, imports and diagnostics a
stricter one per credential (``SKILLS_RATELIMIT_SENSITIVE``), all listed in
``BUDGETS``. Per account, sign-in is bounded by the budgets of ``sign_in_throttle``,
which only failures spend, so that nobody can lock a person out. Probes, the metrics
scrape and static assets are exempt.

Answers carry ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``
(seconds) for the budget nearest to running out; a refused request gets 429
problem+json with ``Retry-After``. If Redis becomes unreachable the limiter falls
back to in-process counters, logs that once, and the service keeps answering.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address

from skills_service.auth import sessions
from skills_service.security import sign_in_throttle
from skills_service.settings import Settings

REDIS_TIMEOUTS: dict[str, str | int] = {"socket_connect_timeout": 1, "socket_timeout": 1}
EXEMPT_ENDPOINTS = frozenset(
    {"static", "health.healthz", "health.readyz", "metrics.metrics", "docs.swagger_asset"}
)
EXEMPT_PREFIXES = ("/dashboard/_dash-component-suites/", "/dashboard/assets/")
SIGN_IN_ENDPOINTS = frozenset(
    {"auth.login_page", "auth.login_mfa", "account.confirm", "account.change_password"}
)
"""Every step that checks a password or a code, sign-in or step-up."""
SENSITIVE_ENDPOINTS = frozenset(
    {
        "account.create_token",
        "admin.import_data",
        "matrix.import_matrix",
        "diagnostics.hello",
        "diagnostics.calculate",
        "diagnostics.ping",
    }
)


def credential_key() -> str:
    """The credential a request carries (hashed), else its address."""
    credential = (
        request.headers.get("Authorization")
        or request.cookies.get(sessions.SECURE_COOKIE)
        or request.cookies.get(sessions.DEVELOPMENT_COOKIE)
    )
    if not credential:
        return address_key()
    return "credential:" + hashlib.sha256(credential.encode()).hexdigest()[:32]


def address_key() -> str:
    return "address:" + get_remote_address()


def login_account_address_key() -> str:
    """The account a password is tried for, from this address (whether or not it exists)."""
    return f"login-{sign_in_throttle.account_key(request.form.get('email', ''))}|{address_key()}"


def _counted() -> bool:
    return request.endpoint not in EXEMPT_ENDPOINTS and not request.path.startswith(EXEMPT_PREFIXES)


def _signing_in() -> bool:
    return request.method == "POST" and request.endpoint in SIGN_IN_ENDPOINTS


def _giving_a_password() -> bool:
    return request.method == "POST" and request.endpoint == "auth.login_page"


def _sensitive() -> bool:
    return request.endpoint in SENSITIVE_ENDPOINTS


@dataclass(frozen=True)
class Budget:
    """One rate limit: which requests spend from it, and whose counter they spend."""

    scope: str
    rate: Callable[[Settings], str]
    key: Callable[[], str]
    applies: Callable[[], bool]


BUDGETS = (
    Budget("credential", lambda s: s.ratelimit_default, credential_key, _counted),
    Budget("address", lambda s: s.ratelimit_per_address, address_key, _counted),
    Budget("sign-in-address", lambda s: s.login_rate_limit, address_key, _signing_in),
    Budget(
        "sign-in-account-address",
        lambda s: s.login_rate_limit,
        login_account_address_key,
        _giving_a_password,
    ),
    Budget("sensitive", lambda s: s.ratelimit_sensitive, credential_key, _sensitive),
)
"""Every rate limit of the service, in one place."""


def storage_uri(settings: Settings) -> str:
    if settings.ratelimit_storage_url:
        return settings.ratelimit_storage_url
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    return "memory://"


def _limit(budget: Budget, settings: Settings) -> ApplicationLimit:
    return ApplicationLimit(
        budget.rate(settings),
        key_function=budget.key,
        scope=budget.scope,
        exempt_when=lambda: not budget.applies(),
    )


def _rate_limit_headers(limiter: Limiter, response: Response) -> Response:
    """The IETF draft's ``RateLimit-*`` fields (Flask-Limiter's own are off)."""
    current = limiter.current_limit
    if current is None:
        return response
    window = current.limit.get_expiry()
    seconds = min(window, max(0, math.ceil(current.reset_at - time.time())))
    response.headers["RateLimit-Limit"] = str(current.limit.amount)
    response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
    response.headers["RateLimit-Reset"] = str(seconds)
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, seconds))
    return response


def init_app(app: Flask, settings: Settings) -> None:
    """A limiter of the app's own: its storage and fallback state are not shared."""
    uri = storage_uri(settings)
    limiter = Limiter(
        key_func=credential_key,
        application_limits=[_limit(budget, settings) for budget in BUDGETS],
        storage_uri=uri,
        # A Redis that accepts connections but never answers must not hold every
        # request for redis-py's default timeouts before the in-process fallback.
        storage_options=REDIS_TIMEOUTS if uri.startswith(("redis", "rediss")) else {},
        headers_enabled=False,
        in_memory_fallback_enabled=True,
        key_prefix=sign_in_throttle.KEY_PREFIX,
    )
    limiter.init_app(app)
    app.extensions[sign_in_throttle.LIMITER_KEY] = limiter
    app.after_request(lambda response: _rate_limit_headers(limiter, response))
