"""``/audit``: the audit trail, newest first (administrators only, by the policy table)."""

from __future__ import annotations

from typing import Any

from skills_service.api.base import Blueprint, envelope
from skills_service.api.presenters import audit_event_body
from skills_service.api.schemas.audit import AuditEventSchema, AuditQueryArgs
from skills_service.api.schemas.common import page_of
from skills_service.extensions import db
from skills_service.services import audit

URL_PREFIX = "/audit"
blueprint = Blueprint("audit", __name__, description="The hash-chained audit trail.")


@blueprint.route("", methods=["GET"])
@blueprint.arguments(AuditQueryArgs, location="query")
@blueprint.response(200, page_of(AuditEventSchema))
def list_events(args: dict[str, Any]) -> dict[str, Any]:
    """Events matching every given filter; ``action`` ending in ``.`` is a prefix."""
    page_number, limit = args.pop("page"), args.pop("limit")
    page = audit.events(db.session, audit.EventFilter(**args), page=page_number, limit=limit)
    return envelope(page, [audit_event_body(event) for event in page.items])
