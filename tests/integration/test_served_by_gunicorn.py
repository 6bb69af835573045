"""Under a real gunicorn with the project's configuration, every answer is the service's own.

Requests beyond the app's limits (query string, header size and count) but within
gunicorn's are answered by the app: problem+json on machine paths, the service's page
on browser paths. Requests beyond gunicorn's own limits get a problem from gunicorn
itself. No answer carries a ``Server`` header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from skills_service.security.limits import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADER_FIELDS,
    MAX_QUERY_STRING_BYTES,
)
from tests.integration.servers import Answer, app_environment, gunicorn, send

LONG_QUERY = "?q=" + "a" * MAX_QUERY_STRING_BYTES
LONG_HEADER = [("X-Padding", "a" * MAX_HEADER_FIELD_BYTES)]
MANY_HEADERS = [(f"X-Extra-{number}", "1") for number in range(MAX_HEADER_FIELDS)]
LARGE_HEADERS = [
    (f"X-Large-{number}", "a" * 4000) for number in range(MAX_HEADER_BYTES // 4000 + 1)
]
BEYOND_THE_APP = {
    "an over-long query string": (LONG_QUERY, [], 414),
    "an oversized header": ("", LONG_HEADER, 431),
    "too many headers": ("", MANY_HEADERS, 431),
    "too many header bytes": ("", LARGE_HEADERS, 431),
}


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    instance = tmp_path_factory.mktemp("gunicorn")
    with gunicorn(app_environment(instance), instance / "gunicorn.log") as bound:
        yield bound


def assert_problem_without_server(answer: Answer, status: int) -> dict[str, object]:
    assert answer.status == status, answer.body[:300]
    assert answer.header("Content-Type") == "application/problem+json"
    assert answer.header("Server") is None
    body: dict[str, object] = json.loads(answer.body)
    assert body["status"] == status
    assert str(body["type"]).startswith("urn:skills-service:problem:")
    return body


def test_an_ordinary_answer_carries_no_server_header(port: int) -> None:
    answer = send(port, "/healthz")
    assert answer.status == 200
    assert answer.header("Server") is None
    assert answer.header("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize(
    ("query", "headers", "status"), BEYOND_THE_APP.values(), ids=list(BEYOND_THE_APP)
)
def test_a_request_beyond_the_apps_limits_is_the_apps_problem_on_a_machine_path(
    port: int, query: str, headers: list[tuple[str, str]], status: int
) -> None:
    answer = send(port, "/api/v1/skills" + query, headers)
    body = assert_problem_without_server(answer, status)
    assert body["request_id"] == answer.header("X-Request-ID")


@pytest.mark.parametrize(
    ("query", "headers", "status"), BEYOND_THE_APP.values(), ids=list(BEYOND_THE_APP)
)
def test_a_request_beyond_the_apps_limits_is_the_services_page_on_a_browser_path(
    port: int, query: str, headers: list[tuple[str, str]], status: int
) -> None:
    answer = send(port, "/skills" + query, headers)
    assert answer.status == status
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    assert answer.header("Server") is None
    assert b"skills-service" in answer.body and b"gunicorn" not in answer.body.lower()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/v1/skills?q=" + "a" * 9000, [], 414),
        ("/api/v1/skills", [("X-Padding", "a" * 20000)], 431),
        ("/api/v1/skills", [(f"X-Extra-{number}", "1") for number in range(250)], 431),
        ("/api/v1/skills", [("Bad Name", "1")], 400),
    ],
    ids=["request line", "header size", "header count", "malformed header"],
)
def test_a_request_beyond_gunicorns_own_limits_is_still_a_problem(
    port: int, path: str, headers: list[tuple[str, str]], status: int
) -> None:
    body = assert_problem_without_server(send(port, path, headers), status)
    assert "gunicorn" not in json.dumps(body).lower()
