"""Real servers started by a test on 127.0.0.1: gunicorn with the project's configuration."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from skills_service.cli import gunicorn_command
from tests.conftest import TEST_SECRET_KEY

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def send(
    port: int, path: str, headers: Sequence[tuple[str, str]] = (), *, method: str = "GET"
) -> Answer:
    """One request exactly as given (http.client puts no limit on what it sends)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def wait_until_answering(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}; see its log")
        try:
            if send(port, "/healthz").status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no answer on port {port} within {START_TIMEOUT_SECONDS} s")


def app_environment(instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a development app on SQLite in ``instance``, nothing inherited."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "SKILLS_SECRET_KEY": TEST_SECRET_KEY,
        "SKILLS_INSTANCE_PATH": str(instance),
        "SKILLS_LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def gunicorn(
    environment: Mapping[str, str], log: Path, *, workers: int = 1, port: int | None = None
) -> Iterator[int]:
    """gunicorn as ``skills-service serve`` runs it, answering on the port it yields.

    Its output goes to ``log``, to read when it did not start.
    """
    port = port or free_port()
    command = gunicorn_command(HOST, port, workers)
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=dict(environment), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_until_answering(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=START_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
