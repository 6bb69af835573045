from __future__ import annotations

from marshmallow import Schema, fields, validate

from skills_service.api.schemas.common import StrictSchema
from skills_service.models.proficiency import NOTE_MAX_LENGTH


class ProficiencySchema(Schema):
    skill_id = fields.Int(required=True)
    level = fields.Int(required=True)
    interested = fields.Bool(required=True)
    note = fields.Str(
        allow_none=True,
        required=True,
        metadata={
            "description": "Private: null unless you are this person, manage them, or are an admin."
        },
    )
    expires_on = fields.Date(allow_none=True, required=True)
    expired = fields.Bool(required=True)
    verified_by = fields.Int(allow_none=True, required=True)
    verified_at = fields.DateTime(allow_none=True, required=True)


class ProficiencyListSchema(Schema):
    items = fields.List(fields.Nested(ProficiencySchema), required=True)
    total = fields.Int(required=True)
    expiring_soon = fields.List(
        fields.Int(),
        required=True,
        metadata={"description": "Skill ids whose certification expires within 90 days."},
    )


class ProficiencyPutSchema(StrictSchema):
    level = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=5))
    interested = fields.Bool(load_default=False)
    note = fields.Str(load_default="", validate=validate.Length(max=NOTE_MAX_LENGTH))
    expires_on = fields.Date(load_default=None, allow_none=True)


class ProficiencyChangeSchema(Schema):
    id = fields.Int(required=True)
    skill_id = fields.Int(required=True)
    action = fields.Str(required=True)
    level = fields.Int(allow_none=True, required=True)
    interested = fields.Bool(allow_none=True, required=True)
    expires_on = fields.Date(allow_none=True, required=True)
    verified_by = fields.Int(attribute="verified_by_id", allow_none=True, required=True)
    changed_by = fields.Int(attribute="changed_by_id", allow_none=True, required=True)
    changed_at = fields.DateTime(required=True)


class HistoryListSchema(Schema):
    items = fields.List(fields.Nested(ProficiencyChangeSchema), required=True)
