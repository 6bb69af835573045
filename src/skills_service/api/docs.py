"""The interactive API documentation (Swagger UI), served by the app itself.

The Swagger UI assets come from the ``swagger-ui-bundle`` package; no page loads
anything from a third-party host.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

blueprint = Blueprint(
    "docs",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/docs/static",
)
SWAGGER_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


@blueprint.get("/docs")
def api_docs() -> str:
    return render_template("api_docs.html")


@blueprint.get("/docs/swagger-ui/<name>")
def swagger_asset(name: str) -> Response:
    if name not in SWAGGER_ASSETS:
        return Response(status=404)
    return send_from_directory(str(swagger_ui_path), name, max_age=86400)
