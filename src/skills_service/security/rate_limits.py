"""Rate limits (Flask-Limiter): shared through Redis when configured.

If Redis becomes unreachable the limiter falls back to in-process counters (and
Flask-Limiter logs it), so the service keeps answering.
"""

from __future__ import annotations

from flask import Flask, request

from skills_service.errors import InvalidInput
from skills_service.extensions import limiter
from skills_service.services.people import normalise_email
from skills_service.settings import Settings


def storage_uri(settings: Settings) -> str:
    if settings.ratelimit_storage_url:
        return settings.ratelimit_storage_url
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    return "memory://"


def login_account_key() -> str:
    """Throttle per account as well as per address, without revealing which exist."""
    raw = request.form.get("email", "")[:320]
    try:
        return "login-account:" + normalise_email(raw)
    except InvalidInput:
        return "login-account:invalid"


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        RATELIMIT_STORAGE_URI=storage_uri(settings),
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_KEY_PREFIX="skills",
        RATELIMIT_LOGIN=settings.login_rate_limit,
    )
    limiter.init_app(app)
