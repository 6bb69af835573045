"""Every error on Dash's own routes is the service's problem+json, never Dash's or an HTML page."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from skills_service.settings import Settings
from tests.conftest import POSTGRES_URL, MakeActor, MakeApp, changed
from tests.integration.browser import SAME_ORIGIN
from tests.integration.responses import assert_problem
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_dashboard import UPDATE, callback_body, dashboard_client
from tests.integration.world import World, build_world

SUITES = "/dashboard/_dash-component-suites"


@pytest.fixture
def world(app: Flask, make_actor: MakeActor) -> World:
    return build_world(app, make_actor)


@pytest.fixture
def browser(app: Flask, world: World) -> tuple[FlaskClient, dict[str, str]]:
    """A member's browser on the dashboard, and the headers its callbacks carry."""
    client, token = dashboard_client(app, world.member)
    return client, {**SAME_ORIGIN, "X-CSRFToken": token}


def with_changes(**changes: Any) -> dict[str, Any]:
    """The dashboard's callback body with some members replaced (``None``: removed)."""
    body = copy.deepcopy(callback_body())
    for name, value in changes.items():
        if value is None:
            del body[name]
        else:
            body[name] = value
    return body


MALFORMED_CALLBACKS = {
    "not an object": ([callback_body()], "_schema"),
    "a string": ("levels.figure", "_schema"),
    "no output": (with_changes(output=None), "output"),
    "an output no callback has": (with_changes(output="nonexistent.figure"), "output"),
    "an output that is not text": (with_changes(output=["levels.figure"]), "output"),
    "no inputs": (with_changes(inputs=None), "inputs"),
    "one input too few": (with_changes(inputs=callback_body()["inputs"][:1]), "inputs"),
    "another component's input": (
        with_changes(inputs=[{"id": "x", "property": "value"}, {"id": "y", "property": "value"}]),
        "inputs",
    ),
    "inputs that are not a list": (with_changes(inputs={"id": "team"}), "inputs"),
    "outputs of another callback": (
        with_changes(outputs=[{"id": "levels", "property": "figure"}]),
        "outputs",
    ),
    "state that is not the callback's": (with_changes(state=[{"id": "team"}]), "state"),
    "changed ids that are not text": (with_changes(changedPropIds=[1]), "changedPropIds"),
}


@pytest.mark.parametrize(
    ("body", "field"), MALFORMED_CALLBACKS.values(), ids=list(MALFORMED_CALLBACKS)
)
def test_a_malformed_callback_is_400_problem_json_naming_what_is_wrong(
    browser: tuple[FlaskClient, dict[str, str]], body: object, field: str
) -> None:
    client, headers = browser
    problem = assert_problem(client.post(UPDATE, json=body, headers=headers), 400)
    assert field in problem["errors"]


@pytest.mark.parametrize("text", ["Backend\x00", "\x00", "Back\ud800end"])
@pytest.mark.parametrize("input_name", ["team", "category"])
def test_a_callback_value_with_unstorable_text_is_400_naming_the_inputs(
    browser: tuple[FlaskClient, dict[str, str]], text: str, input_name: str
) -> None:
    """NUL reached PostgreSQL through the category filter and was a 500 there."""
    client, headers = browser
    body = json.dumps(callback_body(**{input_name: text})).encode("utf-8", "surrogatepass")
    sent = {**headers, "Content-Type": "application/json"}
    problem = assert_problem(client.post(UPDATE, data=body, headers=sent), 400)
    assert "inputs" in problem["errors"]


def test_a_callback_body_that_is_not_json_is_400_or_415_problem_json(
    browser: tuple[FlaskClient, dict[str, str]],
) -> None:
    client, headers = browser
    broken = {**headers, "Content-Type": "application/json"}
    assert_problem(client.post(UPDATE, data="{", headers=broken), 400)
    assert_problem(client.post(UPDATE, data="team=1", headers=headers), 415)


def test_refused_callbacks_are_problem_json(
    app: Flask, world: World, browser: tuple[FlaskClient, dict[str, str]]
) -> None:
    client, headers = browser
    assert_problem(client.post(UPDATE, json=callback_body(), headers=SAME_ORIGIN), 403)
    assert_problem(
        client.post(UPDATE, json=callback_body(team=world.team_id), headers=headers), 403
    )
    invalid = assert_problem(
        client.post(UPDATE, json=callback_body(team="1"), headers=headers), 422
    )
    assert "team" in invalid["errors"]


def test_without_a_session_dash_requests_are_refused_as_problem_json_and_the_page_redirects(
    client: FlaskClient,
) -> None:
    assert_problem(client.get("/dashboard/_dash-layout"), 401)
    assert_problem(client.post(UPDATE, json=callback_body(), headers=SAME_ORIGIN), 403)
    page = client.get("/dashboard/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    "path",
    [
        f"{SUITES}/not_a_package/bundle.js",
        f"{SUITES}/dash/no/such/file.js",
        f"{SUITES}/dash/dcc/../../../settings.py",
    ],
)
def test_a_file_dash_does_not_serve_is_404_problem_json(
    browser: tuple[FlaskClient, dict[str, str]], path: str
) -> None:
    client, _ = browser
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("path", ["/dashboard/_dash-nothing", "/dashboard/_dash-update-component"])
def test_an_unknown_dash_route_is_404_problem_json_not_the_page(
    browser: tuple[FlaskClient, dict[str, str]], path: str
) -> None:
    client, _ = browser
    assert_problem(client.get(path), 404)


def test_dash_routes_still_serve_the_page_and_its_files(
    browser: tuple[FlaskClient, dict[str, str]],
) -> None:
    client, headers = browser
    assert client.get("/dashboard/_dash-layout").status_code == 200
    assert client.get("/dashboard/_dash-dependencies").status_code == 200
    assert client.post(UPDATE, json=callback_body(), headers=headers).status_code == 200
    page = client.get("/dashboard/").get_data(as_text=True)
    script = next(
        part.split('"')[0] for part in page.split('src="')[1:] if "_dash-component-suites" in part
    )
    assert client.get(script).status_code == 200


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def test_no_callback_body_gets_a_server_error_or_an_error_that_is_not_problem_json(
    browser: tuple[FlaskClient, dict[str, str]],
) -> None:
    client, headers = browser
    fields = st.sampled_from(["output", "outputs", "inputs", "state", "changedPropIds"])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        replaced=st.dictionaries(fields, JSON_VALUES, max_size=3),
        values=st.tuples(JSON_VALUES, JSON_VALUES),
    )
    def answered_by_the_service(replaced: dict[str, Any], values: tuple[Any, Any]) -> None:
        body = callback_body()
        for item, value in zip(body["inputs"], values, strict=True):
            item["value"] = value
        body.update(replaced)
        response = client.post(UPDATE, json=body, headers=headers)
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
        if response.status_code >= 400:
            assert_problem(response, response.status_code)

    answered_by_the_service()


# The database out of reach during a callback


@pytest.fixture
def database_proxy(settings: Settings) -> Iterator[TcpProxy]:
    url = make_url(settings.sqlalchemy_url)
    with TcpProxy.running((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        yield proxy


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="needs SKILLS_TEST_DATABASE_URL")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_callback_while_the_database_is_down_is_503_problem_json(
    settings: Settings, database_proxy: TcpProxy, make_app: MakeApp, make_actor: MakeActor
) -> None:
    url = make_url(settings.sqlalchemy_url).set(host="127.0.0.1", port=database_proxy.port)
    app = make_app(changed(settings, database_url=url.render_as_string(hide_password=False)))
    world = build_world(app, make_actor)
    client, token = dashboard_client(app, world.member)
    database_proxy.cut()
    response = client.post(
        UPDATE, json=callback_body(), headers={**SAME_ORIGIN, "X-CSRFToken": token}
    )
    assert_problem(response, 503)
