from __future__ import annotations

from marshmallow import Schema, fields, validate

from skills_service.api.schemas.common import ID_RANGE, StrictSchema
from skills_service.services.teams import DESCRIPTION_MAX, MAX_TARGETS, NAME_MAX


class TeamSchema(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    description = fields.Str(required=True)


class TeamCreateSchema(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=NAME_MAX * 4))
    description = fields.Str(load_default="", validate=validate.Length(max=DESCRIPTION_MAX))


class TeamUpdateSchema(StrictSchema):
    name = fields.Str(validate=validate.Length(min=1, max=NAME_MAX * 4))
    description = fields.Str(validate=validate.Length(max=DESCRIPTION_MAX))


class MemberSchema(Schema):
    person_id = fields.Int(required=True)
    name = fields.Str(required=True)
    is_manager = fields.Bool(required=True)


class MemberListSchema(Schema):
    items = fields.List(fields.Nested(MemberSchema), required=True)


class MemberAddSchema(StrictSchema):
    person_id = fields.Int(required=True, strict=True, validate=ID_RANGE)
    is_manager = fields.Bool(load_default=False)


class TargetSchema(StrictSchema):
    skill_id = fields.Int(required=True, strict=True, validate=ID_RANGE)
    level = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=5))


class TargetOutSchema(Schema):
    skill_id = fields.Int(required=True)
    skill_name = fields.Str(required=True)
    level = fields.Int(required=True)


class TargetListSchema(Schema):
    items = fields.List(fields.Nested(TargetOutSchema), required=True)


class TargetPutSchema(StrictSchema):
    items = fields.List(
        fields.Nested(TargetSchema), required=True, validate=validate.Length(max=MAX_TARGETS)
    )


class GapSchema(Schema):
    skill_id = fields.Int(required=True)
    skill_name = fields.Str(required=True)
    target_level = fields.Int(required=True)
    members = fields.Int(required=True)
    meeting_target = fields.Int(required=True)
    shortfall = fields.Int(required=True)
    missing_levels = fields.Int(required=True)


class GapListSchema(Schema):
    items = fields.List(fields.Nested(GapSchema), required=True)


class GapArgs(StrictSchema):
    include_expired = fields.Bool(load_default=False)
