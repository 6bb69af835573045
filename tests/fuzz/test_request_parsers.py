"""Property tests over every request parser: whatever arrives, the answer is the service's own.

Query strings of every GET route (API and pages), JSON bodies of every API write,
the headers the service reads, form posts of every page in either encoding, CSV
imports and Dash callbacks get random input salted with the classes that once were
server errors: other scripts' digits, NUL, lone surrogates, deep nesting, huge
numbers, ids past 2^31. Three properties hold for each answer: no 5xx, no traceback
in the body, and on a machine path (``/api/``, ``/scim/``, ``/dashboard/_dash-``,
``/metrics``) every error is problem+json.

Examples are derandomised (the same ones on every run, so CI cannot flake) and
bounded: ``SKILLS_FUZZ_EXAMPLES`` (25 in the suite; ``make fuzz`` runs 500) times
eight per property.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from skills_service.dashboard import CSRF_COOKIE
from skills_service.services.common import MAX_ID
from tests.conftest import MakeActor
from tests.integration.browser import CSRF_FIELD, SAME_ORIGIN, signed_in
from tests.integration.test_route_policy import _path as sample_path
from tests.integration.test_route_policy import _routes as routes_of
from tests.integration.world import World, build_world

EXAMPLES = int(os.environ.get("SKILLS_FUZZ_EXAMPLES", "25")) * 8
MACHINE_PATHS = ("/api/", "/scim/", "/dashboard/_dash-", "/metrics")
DASH_UPDATE = "/dashboard/_dash-update-component"
DASH_INTERNALS = "/dashboard/_"
"""Dash's own routes: their callbacks have a property test of their own below."""
NOT_FUZZED = frozenset({"auth.logout", "account.sign_out_everywhere"})
"""Posts that would end the fuzzing browser's own session (they read no fields)."""
ID_IN_PATH = re.compile(r"<int:[a-z_]+>")

fuzzing = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

HOSTILE_NUMBERS = st.sampled_from(
    [
        "\u00b2",
        "\u0663",
        "\uff13",
        "1\u0663",
        str(MAX_ID + 1),
        str(2**63),
        str(2**64),
        "9" * 40,
        "9" * 5000,
        "-1",
        "0",
        "1e9",
        "0x10",
        " 3 ",
        "",
    ]
)
HOSTILE_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\u202egnp.exe",
        "\u200b",
        "<script>alert(1)</script>",
        "' OR '1'='1",
        "{{ 7 * 7 }}",
        '=HYPERLINK("x")',
        "../../etc/passwd",
        "ada@example.org",
        "Python:3",
        "x" * 300,
    ]
)
URL_TEXT = st.one_of(
    HOSTILE_NUMBERS, HOSTILE_TEXT, st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
)
"""Text a URL or form can carry (a lone surrogate cannot be percent-encoded as UTF-8)."""
ANY_TEXT = st.one_of(URL_TEXT, st.sampled_from(["\ud800", "a\udfffb", "\udbff\udbff"]))
QUERY_NAMES = st.sampled_from(
    [
        "page",
        "limit",
        "q",
        "skill",
        "level",
        "category",
        "include_expired",
        "include_deprecated",
        "actor",
        "actor_id",
        "action",
        "target_type",
        "target_id",
        "name",
        "expr",
        "ip",
        "next",
    ]
)
FORM_NAMES = st.sampled_from(
    [
        "skill_id",
        "person_id",
        "level",
        "version",
        "interested",
        "email",
        "name",
        "role",
        "active",
        "manager",
        "description",
        "category",
        "aliases",
        "deprecated",
        "code",
        "password",
        "current_password",
        "new_password",
        "scopes",
        "expires_days",
    ]
)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        ANY_TEXT,
        st.sampled_from([MAX_ID + 1, 2**63, 0, -1]),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.one_of(FORM_NAMES, ANY_TEXT), children, max_size=4),
        ),
        max_leaves=12,
    )


JSON_VALUES = _json_values()
RAW_JSON = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value, ensure_ascii=True)),
    st.integers(min_value=33, max_value=100_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=33, max_value=50_000).map(lambda depth: '{"a":' * depth + "1"),
    st.sampled_from(
        ['{"person_id": ' + "9" * 5000 + "}", '{"level": NaN}', '{"name": 1e999}', "", "{", "\xff"]
    ),
)


def assert_answered_cleanly(path: str, response: TestResponse) -> None:
    body = response.get_data(as_text=True)
    response.close()
    assert response.status_code < 500, (path, response.status_code, body[:300])
    assert "Traceback" not in body, (path, body[:300])
    if response.status_code >= 400 and path.startswith(MACHINE_PATHS):
        assert response.mimetype == "application/problem+json", (path, response.status_code)


def _routes(app: Flask, keep: Callable[[str, str, str], bool]) -> list[tuple[str, str, str]]:
    return [route for route in routes_of(app) if keep(*route)]


@pytest.fixture
def world(fuzzed_app: Flask, make_actor: MakeActor) -> World:
    return build_world(fuzzed_app, make_actor)


@pytest.fixture
def browser(fuzzed_app: Flask, world: World) -> FlaskClient:
    return signed_in(fuzzed_app, world.admin)


def _query_string(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def test_no_query_string_breaks_a_get_route(
    fuzzed_app: Flask, world: World, browser: FlaskClient
) -> None:
    gets = _routes(
        fuzzed_app,
        lambda endpoint, method, rule: method == "GET" and not rule.startswith(DASH_INTERNALS),
    )
    api = fuzzed_app.test_client()

    @given(
        route=st.sampled_from(gets),
        pairs=st.lists(st.tuples(st.one_of(QUERY_NAMES, URL_TEXT), URL_TEXT), max_size=5),
        bearer=st.booleans(),
    )
    @fuzzing
    def fuzz(route: tuple[str, str, str], pairs: list[tuple[str, str]], bearer: bool) -> None:
        path = sample_path(route[2], world)
        url = f"{path}?{_query_string(pairs)}"
        response = api.get(url, headers=world.admin.headers) if bearer else browser.get(url)
        assert_answered_cleanly(path, response)

    fuzz()


def test_no_id_in_a_path_breaks_a_route(fuzzed_app: Flask, world: World) -> None:
    with_ids = _routes(fuzzed_app, lambda endpoint, method, rule: "<int:" in rule)
    api = fuzzed_app.test_client()

    @given(route=st.sampled_from(with_ids), number=HOSTILE_NUMBERS.filter(bool))
    @fuzzing
    def fuzz(route: tuple[str, str, str], number: str) -> None:
        _endpoint, method, rule = route
        path = sample_path(ID_IN_PATH.sub(quote(number), rule, count=1), world)
        response = api.open(path, method=method, headers={**world.admin.headers, "If-Match": "*"})
        assert_answered_cleanly(path, response)

    fuzz()


def test_no_json_body_breaks_an_api_write(fuzzed_app: Flask, world: World) -> None:
    writes = _routes(
        fuzzed_app,
        lambda endpoint, method, rule: rule.startswith("/api/") and method != "GET",
    )
    api = fuzzed_app.test_client()

    @given(route=st.sampled_from(writes), body=RAW_JSON)
    @fuzzing
    def fuzz(route: tuple[str, str, str], body: str) -> None:
        _endpoint, method, rule = route
        path = sample_path(rule, world)
        response = api.open(
            path,
            method=method,
            data=body.encode("utf-8", "surrogatepass"),
            headers={**world.admin.headers, "Content-Type": "application/json", "If-Match": "*"},
        )
        assert_answered_cleanly(path, response)

    fuzz()


HEADER_TEXT = st.one_of(
    HOSTILE_NUMBERS.map(lambda number: f'"{number}"'),
    st.sampled_from(["*", 'W/"1"', '"1", "2"', "Bearer", "Bearer sks_x", "Basic Og==", "\x00"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60),
)
HEADER_NAMES = st.sampled_from(
    ["If-Match", "If-None-Match", "Authorization", "Content-Type", "Cookie"]
)


def test_no_header_breaks_a_route(fuzzed_app: Flask, world: World) -> None:
    api_routes = _routes(fuzzed_app, lambda endpoint, method, rule: rule.startswith("/api/"))
    api = fuzzed_app.test_client()

    @given(
        route=st.sampled_from(api_routes),
        headers=st.dictionaries(HEADER_NAMES, HEADER_TEXT, max_size=5),
        keep_token=st.booleans(),
    )
    @fuzzing
    def fuzz(route: tuple[str, str, str], headers: dict[str, str], keep_token: bool) -> None:
        _endpoint, method, rule = route
        path = sample_path(rule, world)
        sent = {**world.admin.headers, **headers} if keep_token else headers
        response = api.open(path, method=method, headers=sent, data=b"{}")
        assert_answered_cleanly(path, response)

    fuzz()


def test_no_form_post_breaks_a_page(fuzzed_app: Flask, world: World, browser: FlaskClient) -> None:
    posts = _routes(
        fuzzed_app,
        lambda endpoint, method, rule: (
            method == "POST"
            and not rule.startswith(("/api/", "/dashboard/"))
            and endpoint not in NOT_FUZZED
        ),
    )
    token = CSRF_FIELD.search(browser.get("/admin/people").get_data(as_text=True))
    assert token

    @given(
        route=st.sampled_from(posts),
        fields=st.dictionaries(st.one_of(FORM_NAMES, URL_TEXT), URL_TEXT, max_size=6),
        multipart=st.booleans(),
        file_name=st.one_of(st.none(), URL_TEXT),
    )
    @fuzzing
    def fuzz(
        route: tuple[str, str, str],
        fields: dict[str, Any],
        multipart: bool,
        file_name: str | None,
    ) -> None:
        path = sample_path(route[2], world)
        data: dict[str, Any] = {**fields, "csrf_token": token.group(1)}
        if multipart and file_name is not None:
            data["file"] = (io.BytesIO(b"email,name,role,skill,level\r\n"), file_name)
        response = browser.post(
            path,
            data=data,
            headers=SAME_ORIGIN,
            content_type="multipart/form-data" if multipart else None,
        )
        assert_answered_cleanly(path, response)

    fuzz()


CSV_CELLS = st.one_of(
    URL_TEXT,
    st.sampled_from(["email", "name", "role", "skill", "level", "Python", "member", "3", "admin"]),
    st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True),
)


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


CSV_BODIES = st.one_of(
    st.lists(st.lists(CSV_CELLS, min_size=1, max_size=7), max_size=6).map(_csv_text),
    st.lists(st.lists(CSV_CELLS, min_size=5, max_size=5), max_size=5).map(
        lambda rows: _csv_text([["email", "name", "role", "skill", "level"], *rows])
    ),
    st.text(max_size=200),
)


def test_no_csv_file_breaks_the_import(fuzzed_app: Flask, world: World) -> None:
    api = fuzzed_app.test_client()

    @given(body=CSV_BODIES)
    @fuzzing
    def fuzz(body: str) -> None:
        response = api.post(
            "/api/v1/import",
            data=body.encode("utf-8", "surrogatepass"),
            headers={**world.admin.headers, "Content-Type": "text/csv"},
        )
        assert_answered_cleanly("/api/v1/import", response)

    fuzz()


def _dash_payload(value: Any, shaped: bool) -> Any:
    if not shaped:
        return value
    return {
        "output": "..levels.figure...top.figure...coverage.figure...trend.figure"
        "...team-charts.children..",
        "outputs": [{"id": "levels", "property": "figure"}],
        "inputs": [
            {"id": "team", "property": "value", "value": value},
            {"id": "category", "property": "value", "value": value},
        ],
        "changedPropIds": ["team.value"],
        "state": [],
    }


@pytest.fixture
def dash_post(browser: FlaskClient) -> Callable[[Any, bool], TestResponse]:
    """Posts a callback payload as the signed-in browser, with the dashboard's CSRF token."""
    assert browser.get("/dashboard/").status_code == 200
    cookie = browser.get_cookie(CSRF_COOKIE, path="/dashboard/")
    assert cookie is not None
    headers = {**SAME_ORIGIN, "X-CSRFToken": cookie.value}

    def post(value: Any, shaped: bool) -> TestResponse:
        body = json.dumps(_dash_payload(value, shaped), ensure_ascii=True)
        return browser.post(
            DASH_UPDATE, data=body, content_type="application/json", headers=headers
        )

    return post


def test_no_dash_callback_payload_shows_a_traceback(
    dash_post: Callable[[Any, bool], TestResponse],
) -> None:
    @given(value=JSON_VALUES, shaped=st.booleans())
    @fuzzing
    def fuzz(value: Any, shaped: bool) -> None:
        response = dash_post(value, shaped)
        body = response.get_data(as_text=True)
        response.close()
        assert "Traceback" not in body, body[:300]

    fuzz()


def test_every_dash_callback_error_is_a_problem_and_none_a_server_error(
    dash_post: Callable[[Any, bool], TestResponse],
) -> None:
    @given(value=JSON_VALUES, shaped=st.booleans())
    @fuzzing
    def fuzz(value: Any, shaped: bool) -> None:
        assert_answered_cleanly(DASH_UPDATE, dash_post(value, shaped))

    fuzz()
