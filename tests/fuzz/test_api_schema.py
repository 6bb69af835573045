"""Schemathesis against the OpenAPI document: every operation, as an administrator.

Each operation is fuzzed twice on a fresh database holding a small organisation:
with requests that fit the documented schema and with requests that break it.
Neither may ever get a server error or an answer outside the documented statuses
and content types; answers to fitting requests must match their schemas.
``SKILLS_FUZZ_EXAMPLES`` sets the examples per operation and mode (25 in the
suite; ``make fuzz`` runs many more).

Schemathesis's ``negative_data_rejection`` is not used: in query strings its
"schema-breaking" values often serialise to valid ones (an integer typed as a
string is still ``limit=1``), so it fails requests that are in fact valid. That
invalid input is refused with a clean 4xx is tested directly, in
``tests/integration/test_hostile_input.py`` and each resource's tests.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from skills_service import create_app
from skills_service.extensions import db
from skills_service.settings import Settings
from tests.conftest import TEST_SECRET_KEY, MakeActor
from tests.integration.world import build_world

EXAMPLES = int(os.environ.get("SKILLS_FUZZ_EXAMPLES", "25"))
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
CHECKS = {
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ],
    GenerationMode.NEGATIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
    ],
}


def documented_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the document the app serves."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(Settings(secret_key=TEST_SECRET_KEY, instance_path=Path(instance)))
        document = app.test_client().get("/api/v1/openapi.json").get_json()
        db.engine(app).dispose()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


OPERATIONS = documented_operations()


@pytest.mark.parametrize("mode", list(CHECKS), ids=lambda mode: mode.value)
@pytest.mark.parametrize(
    ("method", "path"), OPERATIONS, ids=[f"{method} {path}" for method, path in OPERATIONS]
)
def test_no_operation_errors_or_breaks_its_schema(
    fuzzed_app: Flask, make_actor: MakeActor, method: str, path: str, mode: GenerationMode
) -> None:
    admin = build_world(fuzzed_app, make_actor).admin
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app)[path][method]
    headers = {"Authorization": f"Bearer {admin.token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS[mode])

    fuzz()
