"""The baseline of the HTTP benchmark: the smallest Flask app that answers JSON.

It runs under the same gunicorn settings as skills-service, so the ratio between the
two is the cost of everything the service does per request. ``/hello`` is the
counterpart of ``/healthz``. ``/api/v1/skills`` answers the bytes of the file named by
``BENCH_SAME_BODY`` (``http_load.py`` fetches skills-service's list once and writes it
there), so that the list is compared with an app sending exactly the same body.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

SAME_BODY_ENV = "BENCH_SAME_BODY"

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}


if SAME_BODY_ENV in os.environ:
    same_body = Path(os.environ[SAME_BODY_ENV]).read_bytes()

    @app.get("/api/v1/skills")
    def skills() -> Response:
        return Response(same_body, mimetype="application/json")
