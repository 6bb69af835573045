from __future__ import annotations

from marshmallow import Schema, fields, validate

from skills_service.api.schemas.common import PageArgs, StrictSchema
from skills_service.services.skills import CATEGORY_MAX, DESCRIPTION_MAX, MAX_ALIASES, NAME_MAX

_name = validate.Length(min=1, max=NAME_MAX * 4)
_category = validate.Length(min=1, max=CATEGORY_MAX * 4)
_aliases = validate.Length(max=MAX_ALIASES)


class SkillSchema(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    category = fields.Str(required=True)
    description = fields.Str(required=True)
    aliases = fields.Method("alias_names", required=True)
    deprecated = fields.Bool(required=True)

    def alias_names(self, skill: object) -> list[str]:
        aliases = getattr(skill, "aliases", [])
        return [alias.alias for alias in sorted(aliases, key=lambda alias: alias.alias_key)]


class SkillCreateSchema(StrictSchema):
    name = fields.Str(required=True, validate=_name)
    category = fields.Str(required=True, validate=_category)
    description = fields.Str(load_default="", validate=validate.Length(max=DESCRIPTION_MAX + 100))
    aliases = fields.List(fields.Str(validate=_name), load_default=list, validate=_aliases)


class SkillUpdateSchema(StrictSchema):
    name = fields.Str(validate=_name)
    category = fields.Str(validate=_category)
    description = fields.Str(validate=validate.Length(max=DESCRIPTION_MAX + 100))
    aliases = fields.List(fields.Str(validate=_name), validate=_aliases)
    deprecated = fields.Bool()


class SkillListArgs(PageArgs):
    q = fields.Str(load_default=None, validate=validate.Length(min=1, max=NAME_MAX))
    category = fields.Str(load_default=None, validate=validate.Length(min=1, max=CATEGORY_MAX))
    include_deprecated = fields.Bool(load_default=True)
