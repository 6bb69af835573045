"""The REST API under ``/api/v1``: one module per resource, documented by OpenAPI 3."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from skills_service.api import (
    audit,
    diagnostics,
    docs,
    matrix,
    me,
    people,
    proficiencies,
    skills,
    teams,
)
from skills_service.api.schemas.common import ProblemSchema
from skills_service.security import headers
from skills_service.security.problems import PROBLEM_JSON

PREFIX = "/api/v1"


class ProblemApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting errors as RFC 9457 problems."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def _register_responses(self) -> None:
        """Document the error responses with the media type they are sent with.

        flask-smorest registers them under its default response content type, which
        success responses share; it is switched only while the errors register.
        """
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_JSON
        try:
            super()._register_responses()
        finally:
            del self.DEFAULT_RESPONSE_CONTENT_TYPE


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="skills-service",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "Skills catalogue, proficiencies, teams and gap analysis."},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A personal access token (sks_...).",
                    }
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    app.config.setdefault("API_BODY_TYPES", {}).update(matrix.BODY_TYPES)
    api = ProblemApi(app)
    for resource in (me, skills, people, proficiencies, teams, matrix, audit, diagnostics):
        api.register_blueprint(resource.blueprint, url_prefix=PREFIX + resource.URL_PREFIX)
    app.register_blueprint(docs.blueprint, url_prefix=PREFIX)
    headers.allow(app, PREFIX + "/docs", inline_styles=True)  # Swagger UI styles at run time
    headers.allow_caching(app, "docs.static", "docs.swagger_asset")
