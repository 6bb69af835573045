"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies do)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from skills_service import migrations
from skills_service.extensions import db

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    reasons: list[str] = []
    try:
        with db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            if not migrations.is_at_head(connection):
                reasons.append("database schema is not at the latest migration")
    except SQLAlchemyError:
        log.warning("readiness: database unreachable")
        reasons.append("database unreachable")
    redis_client = current_app.extensions.get("skills_service.redis")
    if redis_client is not None:
        try:
            redis_client.ping()
        except Exception:
            log.warning("readiness: redis unreachable")
            reasons.append("redis unreachable")
    if reasons:
        return jsonify(status="unavailable", reasons=reasons), 503
    return jsonify(status="ready"), 200
