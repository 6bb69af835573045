"""``/export/matrix.csv`` and ``/import``: the skills matrix as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request

from skills_service.api.base import Blueprint
from skills_service.api.presenters import import_report_body
from skills_service.api.schemas.matrix import ExportArgs, ImportReportSchema
from skills_service.auth.principal import require_principal
from skills_service.database import database_sessions
from skills_service.errors import InvalidInput
from skills_service.extensions import db
from skills_service.services import matrix, matrix_import

URL_PREFIX = ""
blueprint = Blueprint("matrix", __name__, description="CSV export and import.")
BODY_TYPES = {"matrix.import_matrix": ("text/csv", "multipart/form-data")}


@blueprint.route("/export/matrix.csv", methods=["GET"])
@blueprint.arguments(ExportArgs, location="query")
@blueprint.response(200, content_type="text/csv", description="The skills matrix as CSV.")
def export_matrix(args: dict[str, Any]) -> Response:
    sessions = database_sessions(current_app)
    layout: matrix.Layout = args["format"]

    def stream() -> Iterator[str]:
        # The stream outlives the request, so it owns its session and closes it
        # when the last row is sent or the client goes away.
        with sessions() as session:
            yield from matrix.write_csv(matrix.export_rows(session, layout))

    return Response(
        stream(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="skills-matrix.csv"'},
    )


@blueprint.route("/import", methods=["POST"])
@blueprint.response(200, ImportReportSchema, description="What the import created and changed.")
def import_matrix() -> dict[str, Any]:
    """Import people and proficiencies (all-or-nothing, per-line error report).

    Only the columns in the file are set; equal values write nothing.
    """
    settings = current_app.config["SKILLS_SETTINGS"]
    text = _uploaded_text()
    session = db.session
    with session.begin():
        report = matrix_import.import_csv(
            session,
            text,
            actor_id=require_principal().person_id,
            max_lines=settings.import_max_lines,
        )
    return import_report_body(report)


def _uploaded_text() -> str:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput("No file was uploaded.", {"file": ["Attach the CSV as 'file'."]})
        raw: bytes = upload.read()
    else:
        raw = request.get_data()
    return matrix.decode_upload(raw)
