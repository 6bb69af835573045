"""What gunicorn itself writes on the wire: no ``Server`` header, its own refusals as problems.

Gunicorn has no setting for either (its maintainers declined one, benoitc/gunicorn#825):
every response starts with ``Server: gunicorn``, and a request it refuses before the
app sees it (a request line or header beyond its limits, a malformed request) gets a
small HTML page. ``install()`` runs in each worker (``post_worker_init`` in
``gunicorn_conf.py``) and replaces the two places gunicorn looks up when it writes
them: the response class, whose default headers then leave ``Server`` out, and the
error writer, which then writes the service's problem+json. The app's own limits sit
below gunicorn's (``security/limits.py``), so a refusal here is only for a request no
client of the service sends; it carries no request id because the app never saw it.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus

from gunicorn import util
from gunicorn.http import wsgi

from skills_service.security.problems import problem_body

REFUSAL_DETAILS = {
    HTTPStatus.BAD_REQUEST: "The request is not valid HTTP.",
    HTTPStatus.REQUEST_URI_TOO_LONG: "The request line is too long.",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "The request headers are too large.",
}


class ResponseWithoutServer(wsgi.Response):  # type: ignore[misc]
    """Gunicorn's response, without the ``Server`` line among its default headers."""

    def default_headers(self) -> list[str]:
        headers: list[str] = super().default_headers()
        return [line for line in headers if not line.lower().startswith("server:")]


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Gunicorn's ``util.write_error``, writing a problem instead of its page.

    ``mesg`` quotes what the client sent (the start of its request line, a header
    name): it goes to gunicorn's log, never back into the answer.
    """
    status = HTTPStatus(status_int)
    body = json.dumps(problem_body(status_int, REFUSAL_DETAILS.get(status), request_id="")).encode()
    head = (
        f"HTTP/1.1 {status_int} {status.phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """In a gunicorn worker: answer as described above."""
    wsgi.Response = ResponseWithoutServer
    util.write_error = write_problem
