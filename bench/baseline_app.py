"""The baseline of the HTTP benchmark: the smallest Flask app that answers JSON.

It runs under the same gunicorn settings as skills-service, so the ratio between the
two is the cost of everything the service does per request.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
