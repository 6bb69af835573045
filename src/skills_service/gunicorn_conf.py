"""Gunicorn settings, shared by ``skills-service serve`` and the container image.

Loaded with ``gunicorn -c python:skills_service.gunicorn_conf``. Only gunicorn's
own conventions are read from the environment: ``WEB_CONCURRENCY`` for the number
of workers, and ``GUNICORN_CMD_ARGS`` (gunicorn reads it itself) for any other
setting; command-line flags win over both. The service's settings stay in
``settings.py``.

Every line gunicorn logs is one JSON object on stdout, in the same format as the
application's. Gunicorn's own access log stays off: the application already writes
one JSON line per request (logger ``skills_service.access``) with the request id,
principal and route, and without the query string, which can hold an OIDC
authorisation code; a second access line per request would only repeat it, less
carefully.

Gunicorn's request limits sit above the app's (``security/limits.py``): the app, not
gunicorn, answers an over-long query string or header, with its own problem or page.
What gunicorn writes itself carries no ``Server`` header (``gunicorn_http.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from skills_service import gunicorn_http

DEFAULT_WORKERS = 2
MAX_WORKERS = 64
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def workers_from(environ: Mapping[str, str]) -> int:
    """The number of workers: ``WEB_CONCURRENCY`` when set, else ``DEFAULT_WORKERS``."""
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_WORKERS
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"WEB_CONCURRENCY must be a whole number, not {raw!r}") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"WEB_CONCURRENCY must be between 1 and {MAX_WORKERS}, not {count}")
    return count


wsgi_app = "skills_service.wsgi:app"
workers = workers_from(os.environ)
timeout = 30
# Shorter than Kubernetes' default grace period (30 s), so that requests in flight
# finish before the kubelet's SIGKILL.
graceful_timeout = 25
keepalive = 5
# Above the app's limits (4 KB query string, 100 header fields of at most 8 KB, 32 KB
# in all): 8190 is the longest request line gunicorn accepts at all.
limit_request_line = 8190
limit_request_fields = 200
limit_request_field_size = 16384
# Gunicorn's runtime control socket would be written under $HOME (read-only in the
# container) and lets anyone who can reach it resize or stop the server.
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = "info"
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "skills_service.observability.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Start the metrics directory empty: files of a previous run would be summed in."""
    directory = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def post_worker_init(worker: Any) -> None:
    """No ``Server`` header, and gunicorn's own refusals as problems (see ``gunicorn_http``)."""
    gunicorn_http.install()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges, so that they are not summed any more."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
