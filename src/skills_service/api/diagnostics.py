"""``/diagnostics``: hello, calculate and (administrators only) ping.

Every invalid parameter here is 400, as the specification states for these
endpoints, where the rest of the API answers schema violations with 422.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from skills_service.api.base import Blueprint
from skills_service.api.presenters import ping_body
from skills_service.api.schemas.diagnostics import (
    CalculateArgs,
    CalculationSchema,
    HelloArgs,
    HelloSchema,
    PingArgs,
    PingSchema,
)
from skills_service.security.problems import problem
from skills_service.services import diagnostics
from skills_service.services.diagnostics import InvalidParameter, PingUnavailable

URL_PREFIX = "/diagnostics"
blueprint = Blueprint("diagnostics", __name__, description="Hello, calculate and ping.")


@blueprint.errorhandler(InvalidParameter)
def invalid_parameter(error: InvalidParameter) -> Response:
    return problem(400, error.detail, field_errors=error.errors)


@blueprint.errorhandler(PingUnavailable)
def ping_unavailable(error: PingUnavailable) -> Response:
    return problem(503, error.detail)


@blueprint.route("/hello", methods=["GET"])
@blueprint.arguments(HelloArgs, location="query", error_status_code=400)
@blueprint.response(200, HelloSchema)
def hello(args: dict[str, Any]) -> dict[str, Any]:
    return {"message": diagnostics.greeting(args["name"])}


@blueprint.route("/calculate", methods=["GET"])
@blueprint.arguments(CalculateArgs, location="query", error_status_code=400)
@blueprint.response(200, CalculationSchema)
def calculate(args: dict[str, Any]) -> dict[str, Any]:
    return {"result": diagnostics.calculate(args["expr"])}


@blueprint.route("/ping", methods=["GET"])
@blueprint.arguments(PingArgs, location="query", error_status_code=400)
@blueprint.response(200, PingSchema)
@blueprint.alt_response(503, response="SERVICE_UNAVAILABLE")
def ping(args: dict[str, Any]) -> dict[str, Any]:
    """Send one ICMP echo request (administrators only)."""
    return ping_body(diagnostics.ping(args["ip"]))
