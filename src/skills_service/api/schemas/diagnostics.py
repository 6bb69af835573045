from __future__ import annotations

from marshmallow import Schema, fields, validate

from skills_service.api.schemas.common import StrictSchema
from skills_service.services.diagnostics import EXPRESSION_MAX, IP_MAX, NAME_MAX


class HelloArgs(StrictSchema):
    name = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=NAME_MAX),
        metadata={
            "description": "1 to 64 Unicode letters or decimal digits "
            "(combining marks may follow a letter); nothing else."
        },
    )


class HelloSchema(Schema):
    message = fields.Str(required=True, metadata={"example": "Hello, Ada!"})


class CalculateArgs(StrictSchema):
    expr = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=EXPRESSION_MAX),
        metadata={
            "description": "Arithmetic only: decimal numbers, + - * / // % **, unary signs "
            "and parentheses. Oversized expressions, exponents and results are refused.",
            "example": "(1 + 2) * 3 ** 2",
        },
    )


class CalculationSchema(Schema):
    # Raw, not Number: an integer result stays an exact integer.
    result = fields.Raw(required=True, metadata={"type": "number"})


class PingArgs(StrictSchema):
    ip = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=IP_MAX),
        metadata={
            "description": "A unicast IPv4 or IPv6 address literal (no host names, no zone id).",
            "example": "192.0.2.10",
        },
    )


class PingSchema(Schema):
    ip = fields.Str(required=True, metadata={"description": "The address, canonical form."})
    reachable = fields.Bool(required=True)
    rtt_ms = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Round-trip time of the reply; null when none came."},
    )
