"""Binds the audit trail to the app: who acts and from where, and refused requests.

In a request the actor is the principal, the address is the client's (as trusted
proxies report it) and the request id is the one in the logs; outside a request
(the CLI) it is whatever ``acting_as`` set.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from skills_service.database import database_sessions
from skills_service.errors import Forbidden
from skills_service.services import audit

log = logging.getLogger(__name__)
_outside_requests: ContextVar[audit.Context | None] = ContextVar("audit_context", default=None)


def acting_as(context: audit.Context) -> None:
    """Who changes things outside a request (for the rest of this context)."""
    _outside_requests.set(context)


def current_context() -> audit.Context:
    if not has_request_context():
        return _outside_requests.get() or audit.Context() or audit.Context()
    principal = g.get("principal")
    return audit.Context(
        actor_id=principal.person_id if principal is not None else None,
        credential=g.get("credential", "anonymous"),
        address=request.remote_addr,
        request_id=g.get("request_id"),
    )


def record_refusal(error: Forbidden) -> None:
    """A request the policy (or the CSRF check) refused, in a transaction of its own.

    The refusal stands even when it cannot be recorded (the database is down): the
    failure is logged, and the client still gets its 403.
    """
    try:
        audit.record_now(
            database_sessions(current_app),
            "request.refused",
            target_type="route",
            target_id=(request.endpoint or "")[:64] or None,
            after={"method": request.method, "path": request.path[:200], "reason": error.detail},
        )
    except SQLAlchemyError:
        log.error("refused request not recorded in the audit trail", exc_info=True)


def init_app(app: Flask) -> None:
    audit.install(database_sessions(app), current_context)
