"""Prometheus metrics at ``/metrics``, for a scraper that holds ``SKILLS_METRICS_TOKEN``.

Without a token configured the endpoint does not exist (404); with one, a scrape
must send it as ``Authorization: Bearer <token>``. The route authenticates itself:
the token names no person, so the principal loader and the rate limits leave it
alone (``policy.SELF_AUTHENTICATED_ROUTES``, ``rate_limits.EXEMPT_ENDPOINTS``).

Requests are labelled by route template (``/api/v1/people/<int:person_id>``), never
by path, so no identifier or token reaches a label. Under gunicorn,
``skills-service serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` so that a scrape sums
every worker, not just the one that answers it.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from skills_service.extensions import db
from skills_service.security.problems import problem
from skills_service.settings import Settings

blueprint = Blueprint("metrics", __name__)

REQUESTS = Counter(
    "skills_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "skills_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RATE_LIMITED = Counter(
    "skills_rate_limited_total", "Requests refused by a rate limit (429).", ["route"]
)
LOGIN_FAILURES = Counter("skills_login_failures_total", "Sign-in attempts refused.", ["step"])
POOL_CHECKED_OUT = Gauge(
    "skills_db_pool_checked_out",
    "Database connections in use, after the last request.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "skills_db_pool_size", "Database connections held by the pool.", multiprocess_mode="livesum"
)
SIGN_IN_STEPS = {
    "auth.login_page": "password",
    "auth.login_mfa": "second factor",
    "account.confirm": "re-authentication",
}
UNMATCHED_ROUTE = "<unmatched>"


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    if response.status_code == 429:
        RATE_LIMITED.labels(route).inc()
    step = SIGN_IN_STEPS.get(request.endpoint or "")
    if step is not None and request.method == "POST" and response.status_code == 401:
        LOGIN_FAILURES.labels(step).inc()
    pool = db.engine().pool
    POOL_CHECKED_OUT.set(getattr(pool, "checkedout", lambda: 0)())
    POOL_SIZE.set(getattr(pool, "size", lambda: 0)())
    return response


def _registry() -> CollectorRegistry:
    """Every worker's metrics under gunicorn; this process's otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


@blueprint.get("/metrics")
def metrics() -> Response:
    settings: Settings = current_app.config["SKILLS_SETTINGS"]
    if settings.metrics_token is None:
        abort(404)
    expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
    supplied = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(supplied, expected):
        return problem(
            401,
            "Send the metrics token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_observe)
    app.register_blueprint(blueprint)
