"""Schemas shared by every resource: pagination, list envelopes, problems."""

from __future__ import annotations

from functools import cache

from marshmallow import RAISE, Schema, fields, validate

from skills_service.services.common import MAX_ID, MAX_PAGE_SIZE

ID_RANGE = validate.Range(min=1, max=MAX_ID)


class StrictSchema(Schema):
    """Unknown fields are an error, never silently ignored."""

    class Meta:
        unknown = RAISE


class PageArgs(StrictSchema):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class SearchPageArgs(PageArgs):
    q = fields.Str(load_default=None, validate=validate.Length(min=1, max=128))


@cache
def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope ``{"items": [...], "total", "page", "limit", "next"}``."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "total": fields.Int(required=True),
            "page": fields.Int(required=True),
            "limit": fields.Int(required=True),
            "next": fields.Str(allow_none=True, required=True),
        },
        name=name,
    )


class LineErrorSchema(Schema):
    line = fields.Int(required=True)
    column = fields.Str(required=True)
    message = fields.Str(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Int(required=True)
    detail = fields.Str()
    errors = fields.Dict(keys=fields.Str(), values=fields.Raw())
    line_errors = fields.List(
        fields.Nested(LineErrorSchema),
        metadata={"description": "A rejected import: every line that is not valid."},
    )
    request_id = fields.Str()
