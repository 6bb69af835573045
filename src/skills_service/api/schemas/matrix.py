"""The CSV export's options and the import's report."""

from __future__ import annotations

from marshmallow import Schema, fields

from skills_service.api.schemas.common import StrictSchema
from skills_service.services.matrix import Layout


class ExportArgs(StrictSchema):
    format = fields.Enum(
        Layout,
        by_value=True,
        load_default=Layout.WIDE,
        metadata={
            "description": "wide: a level per skill column. long: one row per person and "
            "skill with every attribute (level, interested, note, expires_on, verified_by, "
            "verified_at); it imports back to exactly the same state."
        },
    )


class ClearedVerificationSchema(Schema):
    line = fields.Int(required=True)
    email = fields.Str(required=True)
    skill = fields.Str(required=True)


class ImportReportSchema(Schema):
    people_created = fields.Int(required=True)
    people_updated = fields.Int(required=True, metadata={"description": "Changed people."})
    people_unchanged = fields.Int(required=True)
    proficiencies_set = fields.Int(
        required=True, metadata={"description": "Proficiencies created or changed."}
    )
    proficiencies_unchanged = fields.Int(
        required=True, metadata={"description": "Equal to the stored ones: nothing written."}
    )
    verifications_cleared = fields.Int(
        required=True,
        metadata={"description": "Verifications the import ended (a new level or expiry)."},
    )
    cleared_verifications = fields.List(
        fields.Nested(ClearedVerificationSchema),
        required=True,
        metadata={"description": "The first 200 lines that ended a verification."},
    )
    lines = fields.Int(required=True, metadata={"description": "People in the file."})
