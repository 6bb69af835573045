"""Enforce the route table of ``policy`` before any view runs (default deny)."""

from __future__ import annotations

import logging

from flask import Flask, current_app, request

from skills_service import pipeline, policy
from skills_service.auth.principal import current_principal
from skills_service.errors import Forbidden

log = logging.getLogger(__name__)


def enforce_route_policy() -> None:
    if request.endpoint is None:
        return  # no route matched: the 404/405 handler answers
    settings = current_app.config["SKILLS_SETTINGS"]
    action = policy.route_action(request.endpoint, published=settings.api_docs_public)
    if action is None:
        log.error("route without policy refused", extra={"endpoint": request.endpoint})
        raise Forbidden("You are not allowed to do this.")
    policy.require(current_principal(), action)


def init_app(app: Flask) -> None:
    pipeline.before(app, enforce_route_policy)
