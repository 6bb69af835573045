"""Dash's own HTTP routes answer as the service does, with problem+json for every error.

Left alone, Dash turns a callback body it cannot read (not an object, an output no
callback has, inputs that are not the callback's) into an exception and so a 500,
answers a file it does not serve with a bare text 404, and serves its page for any
path under ``/dashboard/``, ``_dash-...`` included. Here the callback body is checked
against the callback it names before Dash reads it (400, per field: a value holding
text that cannot be stored, NUL or a lone surrogate, included), those Dash
errors become 404s, and an unknown ``/dashboard/_dash-...`` path is a 404. The
answers are problem+json because ``/dashboard/_dash-`` is a machine path
(``security.problems.MACHINE_PATHS``). A ``PreventUpdate`` stays Dash's 204: it
means "nothing to change", not an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dash.exceptions import DependencyException, InvalidResourceError
from flask import Flask, Response, request
from werkzeug.exceptions import NotFound

from skills_service import pipeline
from skills_service.policy import DASHBOARD_PREFIX
from skills_service.security.problems import problem
from skills_service.services.common import first_text_fault

if TYPE_CHECKING:
    from dash import Dash

DASH_ROUTE_PREFIX = DASHBOARD_PREFIX + "_dash-"
CALLBACK_ENDPOINT = DASHBOARD_PREFIX + "_dash-update-component"
CATCH_ALL_ENDPOINT = DASHBOARD_PREFIX + "<path:path>"
NOT_SERVED = "The dashboard serves no such file."


def _same_dependencies(sent: object, declared: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``sent`` names exactly the declared ``{id, property}`` pairs, in order.

    A pattern-matching dependency (its id is a mapping with wildcards) may stand for
    any number of components; only its shape is checked.
    """
    if not isinstance(sent, list) or len(sent) != len(declared):
        return False
    for item, expected in zip(sent, declared, strict=True):
        if not isinstance(expected["id"], str):
            if not isinstance(item, dict | list):
                return False
            continue
        if not isinstance(item, dict) or (item.get("id"), item.get("property")) != (
            expected["id"],
            expected["property"],
        ):
            return False
    return True


def _declared_outputs(callback: Mapping[str, Any]) -> list[dict[str, Any]]:
    outputs = callback["output"]
    return [
        {"id": output.component_id, "property": output.component_property}
        for output in (outputs if isinstance(outputs, list) else [outputs])
    ]


def callback_errors(
    body: object, callbacks: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[str]]:
    """What is wrong with a ``_dash-update-component`` body, per field (nothing: ``{}``)."""
    if not isinstance(body, dict):
        return {"_schema": ["Send a JSON object."]}
    callback = callbacks.get(body["output"]) if isinstance(body.get("output"), str) else None
    if callback is None:
        return {"output": ["No dashboard callback has this output."]}
    errors: dict[str, list[str]] = {}
    outputs = body.get("outputs")
    sent_outputs = outputs if isinstance(outputs, list) else [outputs]
    if not _same_dependencies(sent_outputs, _declared_outputs(callback)):
        errors["outputs"] = ["Must be the outputs of the callback."]
    for field, declared in (("inputs", callback["inputs"]), ("state", callback["state"])):
        if not _same_dependencies(body.get(field, []), declared):
            errors[field] = [f"Must be the {field} of the callback."]
        elif fault := first_text_fault(body.get(field, [])):
            errors[field] = [fault]
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(prop, str) for prop in changed):
        errors["changedPropIds"] = ["Must be a list of property ids."]
    return errors


def check_dash_request(dash_app: Dash) -> Response | None:
    """Before the view: refuse what Dash would answer with an error of its own."""
    if request.endpoint == CATCH_ALL_ENDPOINT and request.path.startswith(DASH_ROUTE_PREFIX):
        raise NotFound()
    if request.endpoint != CALLBACK_ENDPOINT:
        return None
    errors = callback_errors(request.get_json(), dash_app.callback_map)
    if errors:
        return problem(400, "The dashboard request is not valid.", field_errors=errors)
    return None


def _not_served(_error: Exception) -> Response:
    return problem(404, NOT_SERVED)


def init_app(app: Flask, dash_app: Dash) -> None:
    """After ``dash_app.init_app(app)``: these handlers replace the ones Dash registered."""
    app.register_error_handler(DependencyException, _not_served)
    app.register_error_handler(InvalidResourceError, _not_served)
    pipeline.before(app, lambda: check_dash_request(dash_app))
