"""Prometheus metrics at ``/metrics``, for a scraper that holds ``SKILLS_METRICS_TOKEN``.

Without a token configured the endpoint does not exist (404); with one, a scrape
must send it as ``Authorization: Bearer <token>``. The route authenticates itself:
the token names no person, so the principal loader and the rate limits leave it
alone (``policy.SELF_AUTHENTICATED_ROUTES``, ``rate_limits.EXEMPT_ENDPOINTS``).

Requests are labelled by route template (``/api/v1/people/<int:person_id>``), never
by path, so no identifier or token reaches a label, and by method, one of the methods
HTTP defines or ``other``, so that no made-up method adds a series. A request's series
are looked up once per (method, route, status) and kept, and the pool gauges are
written only when they change: a request costs the three writes it must make (its
count, its latency's bucket and sum). Its duration is measured from the start the
access log records (``g.started``), so log and histogram agree. Under gunicorn,
``skills-service serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` so that a scrape sums
every worker, not just the one that answers it.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any

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

from skills_service import pipeline
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
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
OTHER_METHOD = "other"


class RequestObserver:
    """Counts and times each request into the series of its method, route and status."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pool: tuple[int, int] | None = None

    def series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter's and the latency histogram's children for these labels."""
        key = (method, route, status)
        found = self._series.get(key)
        if found is None:
            label = method if method in METHODS else OTHER_METHOD
            found = (REQUESTS.labels(label, route, str(status)), LATENCY.labels(label, route))
            self._series[key] = found
        return found

    def __call__(self, response: Response) -> Response:
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED_ROUTE
        status = response.status_code
        count, latency = self.series(request.method, route, status)
        count.inc()
        started = g.get("started")
        if started is not None:
            latency.observe(time.perf_counter() - started)
        if status == 429:
            RATE_LIMITED.labels(route).inc()
        elif status == 401 and request.method == "POST":
            step = SIGN_IN_STEPS.get(request.endpoint or "")
            if step is not None:
                LOGIN_FAILURES.labels(step).inc()
        self._observe_pool()
        return response

    def _observe_pool(self) -> None:
        pool = db.engine().pool
        now = (getattr(pool, "checkedout", lambda: 0)(), getattr(pool, "size", lambda: 0)())
        if now != self._pool:
            POOL_CHECKED_OUT.set(now[0])
            POOL_SIZE.set(now[1])
            self._pool = now


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
    """After the access log's ``init_app``, whose request start the latency is timed from."""
    pipeline.after(app, RequestObserver())
    app.register_blueprint(blueprint)
