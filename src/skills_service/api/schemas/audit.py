"""The audit trail as the API shows it."""

from __future__ import annotations

from marshmallow import fields, validate

from skills_service.api.schemas.common import ID_RANGE, PageArgs, QueryInt, StrictSchema


class AuditQueryArgs(PageArgs):
    actor_id = QueryInt(load_default=None, validate=ID_RANGE)
    action = fields.Str(
        load_default=None,
        validate=validate.Regexp(r"^[a-z_]+(\.[a-z_]*)?$", error="Not an action name."),
        metadata={"description": "An action (proficiency.updated), or a prefix (proficiency.)."},
    )
    target_type = fields.Str(
        load_default=None, validate=validate.Regexp(r"^[a-z_]{1,32}$", error="Not a target type.")
    )
    target_id = fields.Str(load_default=None, validate=validate.Length(min=1, max=64))
    since = fields.AwareDateTime(load_default=None, metadata={"description": "Inclusive."})
    until = fields.AwareDateTime(load_default=None, metadata={"description": "Exclusive."})


class AuditEventSchema(StrictSchema):
    seq = fields.Int(required=True)
    occurred_at = fields.AwareDateTime(required=True)
    actor_id = fields.Int(allow_none=True, required=True)
    credential = fields.Str(required=True)
    action = fields.Str(required=True)
    target_type = fields.Str(required=True)
    target_id = fields.Str(allow_none=True, required=True)
    before = fields.Dict(allow_none=True, required=True)
    after = fields.Dict(allow_none=True, required=True)
    address = fields.Str(allow_none=True, required=True)
    request_id = fields.Str(allow_none=True, required=True)
    hash = fields.Str(required=True)
