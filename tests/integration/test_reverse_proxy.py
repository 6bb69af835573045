"""The compose stack's nginx (deploy/nginx/nginx.conf, as committed) in front of real gunicorn.

Slow clients are held by nginx and cut off by its header timeout while gunicorn's two
sync workers go on serving everyone else; the app's headers pass unchanged, no answer
has a Server header, and nginx's own errors are problem+json.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skills_service.security.problems import problem_body
from tests.conftest import IN_CI
from tests.integration.servers import (
    HOST,
    Answer,
    app_environment,
    free_port,
    gunicorn,
    send,
    wait_until_answering,
)

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "nginx.conf"
NGINX = Path("/usr/sbin/nginx")
HEADERS_MORE = Path("/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so")
HEADER_TIMEOUT_SECONDS = 10
SLOW_CLIENTS = 50
SLOW_LINE_INTERVAL_SECONDS = 1.0
LEGITIMATE_REQUESTS = 20
HOP_BY_HOP = {"date", "connection", "keep-alive", "transfer-encoding", "x-request-id"}
COUNTERS = {"ratelimit-remaining", "ratelimit-reset"}
NEW_EVERY_TIME = re.compile(r"'nonce-[^']+'|(?<==)[^;]+(?=;)")


@dataclass(frozen=True)
class Stack:
    proxy: int
    app: int


def render(config: str, *, listen: int, upstream: int, directory: Path) -> str:
    """The committed configuration on loopback ports, writing under ``directory``."""
    replacements = {
        "listen 8080;": f"listen {HOST}:{listen};",
        "server app:8000;": f"server {HOST}:{upstream};",
    }
    for old, new in replacements.items():
        assert config.count(old) == 1, old
        config = config.replace(old, new)
    assert f"client_header_timeout {HEADER_TIMEOUT_SECONDS}s;" in config
    return config.replace("/tmp/", f"{directory}/")  # noqa: S108 (the paths replaced)


@pytest.fixture(scope="module")
def nginx_installed() -> None:
    if not (NGINX.exists() and HEADERS_MORE.exists()):
        message = "nginx or its headers-more module is missing: run `make system-packages`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("REVERSE PROXY TEST SKIPPED: " + message)


@pytest.fixture(scope="module")
def stack(nginx_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("proxy")
    with gunicorn(app_environment(directory), directory / "gunicorn.log", workers=2) as app:
        proxy = free_port()
        rendered = directory / "nginx.conf"
        rendered.write_text(
            render(CONFIG.read_text(), listen=proxy, upstream=app, directory=directory)
        )
        with (directory / "nginx.log").open("ab") as log:
            process = subprocess.Popen(
                [str(NGINX), "-e", "stderr", "-p", str(directory), "-c", str(rendered)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_answering(proxy, process)
            yield Stack(proxy=proxy, app=app)
        finally:
            process.terminate()
            process.wait(timeout=10)


def slow_client(port: int, stop: threading.Event, closed: list[float]) -> None:
    """Send a request line, then one header line a second, never the end of the headers.

    Records when the server closed the connection.
    """
    started = time.monotonic()
    with socket.create_connection((HOST, port), timeout=HEADER_TIMEOUT_SECONDS * 2) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            number = 0
            while not stop.wait(SLOW_LINE_INTERVAL_SECONDS):
                sock.sendall(f"X-Slow-{number}: 1\r\n".encode())
                number += 1
        except OSError:
            closed.append(time.monotonic() - started)
            return
    closed.append(-1.0)


def test_slow_clients_are_cut_off_by_nginx_while_others_are_served(stack: Stack) -> None:
    stop = threading.Event()
    closed: list[float] = []
    clients = [
        threading.Thread(target=slow_client, args=(stack.proxy, stop, closed), daemon=True)
        for _ in range(SLOW_CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(2 * SLOW_LINE_INTERVAL_SECONDS)
        answers = [send(stack.proxy, "/healthz").status for _ in range(LEGITIMATE_REQUESTS)]
        assert answers == [200] * LEGITIMATE_REQUESTS
        for client in clients:
            client.join(timeout=HEADER_TIMEOUT_SECONDS + 5)
    finally:
        stop.set()
    assert len(closed) == SLOW_CLIENTS, "every slow connection was closed by nginx"
    assert all(seconds >= HEADER_TIMEOUT_SECONDS - 1 for seconds in closed), closed


def comparable(answer: Answer) -> set[tuple[str, str]]:
    """The headers of an answer, less hop-by-hop ones, with what is new on every answer
    (the CSP nonce, fresh session and CSRF cookies, rate-limit counters) masked."""
    return {
        (name.lower(), "*" if name.lower() in COUNTERS else NEW_EVERY_TIME.sub("*", value))
        for name, value in answer.headers
        if name.lower() not in HOP_BY_HOP
    }


@pytest.mark.parametrize("path", ["/healthz", "/login", "/api/v1/me", "/no/such/page"])
def test_nginx_passes_the_apps_headers_unchanged_and_adds_no_server_header(
    stack: Stack, path: str
) -> None:
    direct, proxied = send(stack.app, path), send(stack.proxy, path)
    assert proxied.status == direct.status
    assert proxied.header("Server") is None
    assert comparable(proxied) == comparable(direct)


@pytest.mark.parametrize(
    ("path", "headers", "status", "method"),
    [
        ("/healthz", [("X-Padding", "a" * 20000)], 400, "GET"),
        ("/healthz?" + "a" * 20000, [], 414, "GET"),
        ("/api/v1/skills", [("Transfer-Encoding", "gzip")], 501, "POST"),
    ],
    ids=[
        "header beyond nginx's buffers",
        "request line beyond nginx's buffers",
        "a transfer encoding nginx does not implement",
    ],
)
def test_nginx_refuses_what_is_beyond_its_own_limits_with_a_problem(
    stack: Stack, path: str, headers: list[tuple[str, str]], status: int, method: str
) -> None:
    answer = send(stack.proxy, path, headers, method=method)
    assert answer.status == status
    assert answer.header("Content-Type") == "application/problem+json"
    assert answer.header("Server") is None
    body = json.loads(answer.body)
    expected = problem_body(status, None, request_id="")
    assert (body["type"], body["title"], body["status"]) == (
        expected["type"],
        expected["title"],
        status,
    )


def test_nginx_refuses_an_http_version_it_does_not_speak_with_a_problem(stack: Stack) -> None:
    """Its own 505 was an HTML page naming nginx."""
    with socket.create_connection((HOST, stack.proxy), timeout=10) as connection:
        connection.sendall(b"GET /healthz HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"505"
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["type"] == problem_body(505, None, request_id="")["type"]
