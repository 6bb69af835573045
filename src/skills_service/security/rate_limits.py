"""Rate limits, shared through Redis when it is configured.

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
problem+json with ``Retry-After``. If Redis becomes unreachable the limits fall
back to in-process counters, log that once, and the service keeps answering.

Each budget is a fixed window per key, spent by the cache's one read of the request
(``caching``, which counts what this module chooses), before authentication looks at
the credential; ``sign_in_throttle`` keeps its counters in the same storage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from werkzeug.exceptions import TooManyRequests

from skills_service import caching, pipeline
from skills_service.auth import principal, sessions
from skills_service.caching import StorageCounters, Window
from skills_service.security import sign_in_throttle
from skills_service.settings import Settings

REDIS_TIMEOUTS: dict[str, str | int] = {"socket_connect_timeout": 1, "socket_timeout": 1}
"""A Redis that accepts connections but never answers must not hold every request for
redis-py's default timeouts before the in-process fallback."""
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
_RATES = "skills_service.rates"


@dataclass(frozen=True)
class Spent:
    """Where a request leaves one window of a budget."""

    limit: RateLimitItem
    hits: int
    reset_in: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit.amount - self.hits)


def _window(budget: Budget, limit: RateLimitItem) -> Window:
    seconds = limit.get_expiry()
    key = f"{sign_in_throttle.KEY_PREFIX}:limit:{budget.scope}:{budget.key()}:{seconds}s"
    return Window(key, seconds)


def spend_budgets() -> None:
    """Before the view: spend the request's budgets in the cache's read; 429 when one
    is spent. Exempt requests cost one membership test."""
    if not _counted():
        return
    rates: list[tuple[Budget, list[RateLimitItem]]] = current_app.extensions[_RATES]
    limits = [(budget, limit) for budget, items in rates if budget.applies() for limit in items]
    reading = caching.current().read(
        principal.request_credential(), [_window(budget, limit) for budget, limit in limits]
    )
    spent = [
        Spent(limit, count.hits, count.reset_in)
        for (_, limit), count in zip(limits, reading.counts, strict=True)
    ]
    g.rate_limit = min(spent, key=lambda window: window.remaining)
    refused = next((window for window in spent if window.hits > window.limit.amount), None)
    if refused is not None:
        g.rate_limit = refused
        raise TooManyRequests(str(refused.limit))


def storage_uri(settings: Settings) -> str:
    if settings.ratelimit_storage_url:
        return settings.ratelimit_storage_url
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    return "memory://"


def _rate_limit_headers(response: Response) -> Response:
    """The IETF draft's ``RateLimit-*`` fields, for the window nearest to running out
    (or the one that refused the request)."""
    shown: Spent | None = g.get("rate_limit")
    if shown is None:
        return response
    response.headers["RateLimit-Limit"] = str(shown.limit.amount)
    response.headers["RateLimit-Remaining"] = str(shown.remaining)
    response.headers["RateLimit-Reset"] = str(shown.reset_in)
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, shown.reset_in))
    return response


def counters_for(settings: Settings) -> StorageCounters | None:
    """Where the request budgets are counted, if not in the cache's Redis read: a
    storage of their own (``SKILLS_RATELIMIT_STORAGE_URL``), else this process."""
    uri = storage_uri(settings)
    if settings.redis_url is not None and uri == settings.redis_url.get_secret_value():
        return None
    options = REDIS_TIMEOUTS if uri.startswith(("redis", "rediss")) else {}
    return StorageCounters(uri, **options)


def init_app(app: Flask, settings: Settings, counters: StorageCounters | None) -> None:
    """The budgets' hooks; ``counters`` as ``counters_for(settings)`` chose them, whose
    storage (else the cache's Redis) ``sign_in_throttle`` counts in too."""
    app.extensions[_RATES] = [(budget, parse_many(budget.rate(settings))) for budget in BUDGETS]
    if counters is not None:
        app.extensions[sign_in_throttle.LIMITER_KEY] = counters.storage_in_use
    else:
        storage = storage_from_string(storage_uri(settings), **REDIS_TIMEOUTS)
        app.extensions[sign_in_throttle.LIMITER_KEY] = lambda: storage
    pipeline.before(app, spend_budgets)
    pipeline.after(app, _rate_limit_headers)
