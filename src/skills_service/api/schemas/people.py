from __future__ import annotations

from marshmallow import Schema, fields, validate

from skills_service.api.schemas.common import PageArgs, StrictSchema
from skills_service.policy import Role
from skills_service.services.people import EMAIL_MAX, NAME_MAX
from skills_service.services.search import MAX_CONDITIONS

_roles = validate.OneOf([role.value for role in Role])


class PersonSchema(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    email = fields.Str(
        allow_none=True,
        required=True,
        metadata={
            "description": "Private: null unless you are this person, manage them, or are an admin."
        },
    )
    role = fields.Str(required=True)
    active = fields.Bool(required=True)
    teams = fields.List(fields.Int(), required=True)


class PersonMatchSchema(PersonSchema):
    score = fields.Int(required=True, metadata={"description": "Relevance: sum of matched levels."})


class PersonCreateSchema(StrictSchema):
    email = fields.Str(required=True, validate=validate.Length(min=3, max=EMAIL_MAX * 2))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=NAME_MAX * 4))
    role = fields.Str(load_default=Role.MEMBER.value, validate=_roles)
    active = fields.Bool(load_default=True)


class PersonUpdateSchema(StrictSchema):
    name = fields.Str(validate=validate.Length(min=1, max=NAME_MAX * 4))
    role = fields.Str(validate=_roles)
    active = fields.Bool()


class PasswordResetSchema(Schema):
    one_time_password = fields.Str(
        required=True,
        metadata={"description": "Shown once; the person must change it at the next sign-in."},
    )


class PeopleSearchArgs(PageArgs):
    skill = fields.List(
        fields.Str(validate=validate.Length(min=1, max=80)),
        load_default=list,
        validate=validate.Length(max=MAX_CONDITIONS),
        metadata={"description": "NAME_OR_ID:MIN_LEVEL; repeat for several, all must hold."},
    )
    q = fields.Str(load_default=None, validate=validate.Length(min=1, max=NAME_MAX))
    include_expired = fields.Bool(load_default=False)


class MeSchema(PersonSchema):
    managed_teams = fields.List(fields.Int(), required=True)
    scopes = fields.List(fields.Str(), required=True)
