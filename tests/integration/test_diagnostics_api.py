"""``/api/v1/diagnostics``: the HTTP contract of hello, calculate and ping.

The ping tests use the system's iputils ping on loopback addresses only. Without
it (``make system-packages``) they are skipped loudly, except under ``CI=true``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from skills_service.services import diagnostics
from tests.conftest import IN_CI, Actor, MakeActor, fresh_sqlite
from tests.integration.responses import assert_problem, data

HELLO = "/api/v1/diagnostics/hello"
CALCULATE = "/api/v1/diagnostics/calculate"
PING = "/api/v1/diagnostics/ping"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One backend is enough: the diagnostics read and write no data."""
    return fresh_sqlite(request, tmp_path)


def get(client: FlaskClient, path: str, actor: Actor | None, **query: Any) -> TestResponse:
    headers = actor.headers if actor else {}
    return client.get(path, query_string=query, headers=headers)


@pytest.fixture
def system_ping() -> None:
    if shutil.which("ping", path=diagnostics.PING_SEARCH_PATH) is None:
        message = "the system ping is missing: run `make system-packages` (iputils-ping)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("PING TESTS SKIPPED: " + message)


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every process the request tries to start (none is started)."""
    started: list[object] = []

    def record(argv: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        started.append(argv)
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "run", record)
    return started


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


# hello


@pytest.mark.parametrize("role", ["viewer", "member", "manager", "admin"])
def test_every_role_is_greeted_by_name(
    client: FlaskClient, make_actor: MakeActor, role: str
) -> None:
    response = get(client, HELLO, make_actor(role), name="Ada")
    assert response.status_code == 200
    assert data(response) == {"message": "Hello, Ada!"}


def test_unicode_letters_are_greeted_in_nfc(client: FlaskClient, member: Actor) -> None:
    response = get(client, HELLO, member, name="Zoe\u0308")
    assert data(response) == {"message": "Hello, Zoë!"}


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "Ada Lovelace", "<script>alert(1)</script>", "x²", "a\u202eb", "\x00"]
)
def test_a_name_that_is_not_letters_or_digits_is_400(
    client: FlaskClient, member: Actor, name: str
) -> None:
    body = assert_problem(get(client, HELLO, member, name=name), 400)
    assert list(body["errors"]) == ["name"]


def test_a_missing_name_is_400(client: FlaskClient, member: Actor) -> None:
    body = assert_problem(get(client, HELLO, member), 400)
    assert list(body["errors"]) == ["name"]


def test_an_unknown_parameter_is_400(client: FlaskClient, member: Actor) -> None:
    body = assert_problem(get(client, HELLO, member, name="Ada", debug="1"), 400)
    assert list(body["errors"]) == ["debug"]


def test_hello_needs_authentication(client: FlaskClient) -> None:
    assert_problem(get(client, HELLO, None, name="Ada"), 401)


# calculate


@pytest.mark.parametrize(
    ("expr", "result"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3 ** 2", 27),
        ("7 / 2", 3.5),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("2 ** 0.5", 2**0.5),
        ("2 ** 1000", 2**1000),
    ],
)
def test_arithmetic_is_answered_with_its_result(
    client: FlaskClient, member: Actor, expr: str, result: float
) -> None:
    response = get(client, CALCULATE, member, expr=expr)
    assert response.status_code == 200
    assert data(response) == {"result": result}


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('id')",
        "().__class__.__bases__",
        "open('/etc/passwd').read()",
        "(1)(2)",
        "1 .e",
        "lambda: 1",
        "f'{1}'",
        "True + 1",
        "1j",
        "9**9**9",
        "2**100000",
        "(10**300)*(10**300)",
        "1e308*10",
        "1/0",
        "1%0",
        "1" * 257,
        "1 +",
    ],
)
def test_anything_but_bounded_arithmetic_is_400_naming_expr(
    client: FlaskClient, member: Actor, expr: str
) -> None:
    body = assert_problem(get(client, CALCULATE, member, expr=expr), 400)
    assert list(body["errors"]) == ["expr"]
    assert "Traceback" not in body["detail"] and "Error" not in body["detail"]


def test_a_missing_expression_is_400(client: FlaskClient, member: Actor) -> None:
    body = assert_problem(get(client, CALCULATE, member), 400)
    assert list(body["errors"]) == ["expr"]


def test_calculate_needs_authentication(client: FlaskClient) -> None:
    assert_problem(get(client, CALCULATE, None, expr="1+1"), 401)


# ping


def test_an_admin_pings_ipv4_loopback(client: FlaskClient, admin: Actor, system_ping: None) -> None:
    body = data(get(client, PING, admin, ip="127.0.0.1"))
    assert body["ip"] == "127.0.0.1"
    assert body["reachable"] is True
    assert isinstance(body["rtt_ms"], float) and body["rtt_ms"] >= 0


def test_an_admin_pings_ipv6_loopback(client: FlaskClient, admin: Actor, system_ping: None) -> None:
    if not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    body = data(get(client, PING, admin, ip="0:0:0:0:0:0:0:1"))
    assert body["ip"] == "::1"
    assert body["reachable"] is True
    assert isinstance(body["rtt_ms"], float)


def test_an_unreachable_address_is_answered_within_the_wait(
    client: FlaskClient, admin: Actor, system_ping: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diagnostics, "PING_WAIT_SECONDS", 1)
    started = time.monotonic()
    # 240.0.0.0/4 is reserved and never routed (192.0.2.0/24 is answered in some sandboxes).
    response = get(client, PING, admin, ip="240.0.0.1")
    assert time.monotonic() - started < 1 + diagnostics.PING_EXIT_GRACE_SECONDS
    assert data(response) == {"ip": "240.0.0.1", "reachable": False, "rtt_ms": None}


@pytest.mark.parametrize("role", ["viewer", "member", "manager"])
def test_only_admins_may_ping(
    client: FlaskClient, make_actor: MakeActor, processes: list[object], role: str
) -> None:
    assert_problem(get(client, PING, make_actor(role), ip="127.0.0.1"), 403)
    assert processes == []


def test_ping_needs_authentication(client: FlaskClient, processes: list[object]) -> None:
    assert_problem(get(client, PING, None, ip="127.0.0.1"), 401)
    assert processes == []


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1; id",
        "127.0.0.1 && cat /etc/passwd",
        "-c 1000 127.0.0.1",
        "--help",
        "$(id)",
        "`id`",
        "127.0.0.1\nid",
        "127.0.0.1\x00",
        "::1%eth0",
        "::1%lo",
        "localhost",
        "127.1",
        "１２７.０.０.１",
        "é" * 400,
        "",
        "224.0.0.1",
        "255.255.255.255",
        "::",
    ],
)
def test_anything_but_an_address_literal_is_400_and_starts_no_process(
    client: FlaskClient, admin: Actor, processes: list[object], ip: str
) -> None:
    body = assert_problem(get(client, PING, admin, ip=ip), 400)
    assert list(body["errors"]) == ["ip"]
    assert body["detail"] in {
        "The request is not valid.",
        "ip must be an IPv4 or IPv6 address.",
        "ip must be the address of a single host.",
        "The query field 'ip' contains a NUL character.",
    }
    assert processes == []


def test_a_missing_ip_is_400_and_starts_no_process(
    client: FlaskClient, admin: Actor, processes: list[object]
) -> None:
    body = assert_problem(get(client, PING, admin), 400)
    assert list(body["errors"]) == ["ip"]
    assert processes == []


def test_without_a_system_ping_the_answer_is_503(
    client: FlaskClient, admin: Actor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(diagnostics, "PING_SEARCH_PATH", str(tmp_path))
    body = assert_problem(get(client, PING, admin, ip="127.0.0.1"), 503)
    assert body["detail"] == "The ping utility is not installed on this server."


# the document


def test_the_openapi_document_describes_the_diagnostics(client: FlaskClient) -> None:
    paths = data(client.get("/api/v1/openapi.json"))["paths"]
    for path, parameter in ((HELLO, "name"), (CALCULATE, "expr"), (PING, "ip")):
        operation = paths[path]["get"]
        assert [(p["name"], p["in"], p["required"]) for p in operation["parameters"]] == [
            (parameter, "query", True)
        ]
        assert "400" in operation["responses"]
    assert "503" in paths[PING]["get"]["responses"]
