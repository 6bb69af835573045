"""Assertions every API test shares: JSON bodies and RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def data(response: TestResponse) -> Any:
    """The JSON body of a response (an error when there is none)."""
    assert response.is_json, response.get_data(as_text=True)
    return response.json


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """A problem+json answer with ``status``, its standard members and no traceback."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = data(response)
    assert body["status"] == status
    assert {"type", "title", "detail", "request_id"} <= body.keys()
    assert body["type"].startswith("urn:skills-service:problem:")
    assert "Traceback" not in response.get_data(as_text=True)
    return body
