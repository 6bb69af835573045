"""skills-service: a security-first skills catalogue and team gap-analysis service."""

from __future__ import annotations

from flask import Flask

from skills_service import api, caching, dashboard, json_provider, pipeline, redis_client
from skills_service.auth import account, login, oidc, principal, sessions
from skills_service.auth import views as auth_views
from skills_service.extensions import db
from skills_service.observability import health, metrics
from skills_service.observability import logging as json_logging
from skills_service.security import (
    audit_context,
    authorization,
    csrf,
    headers,
    limits,
    problems,
    proxies,
    rate_limits,
)
from skills_service.settings import Settings
from skills_service.web import admin, pages


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from ``settings`` (default: the environment).

    Raises ``ConfigError`` for a configuration that must not run (see ``Settings.guard``).
    """
    settings = settings or Settings.from_environ()
    settings.guard()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=settings.secret_key_bytes(),
        DEBUG=settings.debug,
        SKILLS_SETTINGS=settings,
        JSON_SORT_KEYS=False,
    )
    json_provider.init_app(app)
    pipeline.init_app(app)
    proxies.init_app(app, settings.trusted_proxies)
    json_logging.init_app(app, level=settings.log_level)
    metrics.init_app(app)
    limits.init_app(
        app,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_endpoints=("matrix.import_matrix", "admin.import_data"),
    )
    db.init_app(app, settings.sqlalchemy_url)
    audit_context.init_app(app)
    redis_client.init_app(
        app,
        settings.redis_url.get_secret_value() if settings.redis_url else None,
        cache_url=settings.cache_redis_url.get_secret_value() if settings.cache_redis_url else None,
    )
    counters = rate_limits.counters_for(settings)
    caching.init_app(app, counters)
    rate_limits.init_app(app, settings, counters)
    principal.init_app(app, settings)
    login.init_app(app)
    csrf.init_app(app)
    authorization.init_app(app)
    limits.init_shape_checks(app)
    headers.init_app(app, production=settings.is_production)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(auth_views.blueprint)
    app.register_blueprint(account.blueprint)
    app.register_blueprint(oidc.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(admin.blueprint)
    oidc.init_app(app, settings)
    api.init_app(app)
    dashboard.init_app(
        app,
        production=settings.is_production,
        cache_seconds=settings.dashboard_cache_seconds,
    )
    problems.init_app(app)
    sessions.init_app(app, settings)
    return app
