"""Schemas shared by every resource: pagination, list envelopes, problems."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from skills_service.services.common import (
    MAX_ID,
    MAX_PAGE_SIZE,
    TOTAL_BOUND,
    ascii_int,
    first_text_fault,
    printable,
)

ID_RANGE = validate.Range(min=1, max=MAX_ID)


class StrictSchema(Schema):
    """Unknown fields are an error, never silently ignored; so is any string, key or
    value, that ``text_fault`` refuses (NUL, a lone surrogate), named by its field."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            refused = {
                printable(str(key)): [fault]
                for key in data
                if (fault := first_text_fault(key) or first_text_fault(data[key]))
            }
            if refused:
                raise ValidationError(refused)
        return data


class QueryInt(fields.Integer):
    """A whole number from a query string: ASCII digits only, through the one integer parser
    (``fields.Int`` would read fullwidth or Arabic-Indic digits through ``int``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        number = ascii_int(value) if isinstance(value, str) else None
        if number is None:
            raise self.make_error("invalid", input=value)
        return number


class PageArgs(StrictSchema):
    page = QueryInt(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = QueryInt(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class SearchPageArgs(PageArgs):
    q = fields.Str(load_default=None, validate=validate.Length(min=1, max=128))


@cache
def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope ``{"items": [...], "total", "page", "limit", "next"}``."""
    return Schema.from_dict(_page_fields(item_schema), name=_page_name(item_schema))


def _page_fields(item_schema: type[Schema]) -> dict[str, fields.Field[Any]]:
    return {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "total": fields.Int(required=True),
        "page": fields.Int(required=True),
        "limit": fields.Int(required=True),
        "next": fields.Str(allow_none=True, required=True),
    }


def _page_name(item_schema: type[Schema]) -> str:
    return item_schema.__name__.removesuffix("Schema") + "PageSchema"


TOTAL_RELATIONS = ("eq", "gte")


@cache
def bounded_page_of(item_schema: type[Schema]) -> type[Schema]:
    """``page_of`` for a search whose total is counted only up to ``TOTAL_BOUND``."""
    return Schema.from_dict(
        {
            **_page_fields(item_schema),
            "total": fields.Int(
                required=True,
                metadata={
                    "description": "The number of matches when ``total_relation`` is ``eq``."
                    f" When it is ``gte``, matches were counted only up to {TOTAL_BOUND:,}"
                    " (or to the end of the page asked for, if further) and there are more."
                },
            ),
            "total_relation": fields.Str(
                required=True,
                validate=validate.OneOf(TOTAL_RELATIONS),
                metadata={
                    "description": "``eq``: ``total`` is exact. ``gte``: there are more"
                    " matches than ``total``, and ``next`` links the following page."
                },
            ),
        },
        name=_page_name(item_schema),
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
