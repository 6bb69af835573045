"""Where a request's time goes: pyinstrument around the app, in-process.

The app runs with the HTTP benchmark's production settings (PostgreSQL, Redis, rate
limits, audit trail, JSON logs, metrics) and is called through Flask's test client,
so the profile holds the whole request path, from the WSGI call to the serialised
answer, without gunicorn and the network. Each scenario gets a warm-up (connection
pool, statement caches), then ``--requests`` profiled calls; pyinstrument samples
every millisecond, and its call tree is printed and saved as HTML in
``bench/results/profile-<scenario>.html``; the app's log lines go to
``bench/results/profile.log``.

    .venv/bin/python bench/profile_request.py --reuse-data --scenario list
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from pyinstrument import Profiler
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

import baseline_app
from generate import DEFAULT_PEOPLE, URL_ENV, bench_url, generate
from http_load import (
    CALLBACK,
    HOST,
    RESULTS_DIR,
    Accounts,
    callback_body,
    create_accounts,
    dashboard_headers,
    free_port,
    search_requests,
    service_environ,
    upsert_requests,
)
from skills_service import create_app
from skills_service.database import make_engine

SCENARIOS = (
    "hello",
    "healthz",
    "me",
    "list",
    "skill-change",
    "list-after-change",
    "search",
    "upsert",
    "dashboard",
)
"""``hello`` is the bare app's (``baseline_app.py``), called in the same process as the
others; ``list-after-change`` changes a skill, then reads the list, and ``skill-change``
only changes it, so that the difference is what the list costs just after a change."""
WARMUP_REQUESTS = 50
Call = Callable[[FlaskClient, int], TestResponse]
Lines = list[tuple[str, str, str, str]]


def in_process_app(stack: ExitStack, database_url: str, redis_url: str) -> tuple[Flask, Accounts]:
    """The app with the HTTP benchmark's production settings, and new accounts to call it."""
    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="in-process-"))
    environ = service_environ(database_url, redis_url, Path(scratch))
    accounts = create_accounts(environ)
    os.environ.clear()
    os.environ.update(environ)
    return create_app(), accounts


def scenario(
    name: str, app: Flask, accounts: Accounts, engine_url: str, requests: int, seed: int
) -> Call:
    """The scenario's n-th request; upserts replace a different proficiency each time.

    Only the named scenario is prepared: the dashboard's signs a viewer in (an argon2
    hash), and search and upsert read their requests from the database.
    """
    bearer = {"Authorization": f"Bearer {accounts.token}"}
    if name == "hello":
        bare = baseline_app.app.test_client(use_cookies=False)
        return lambda _client, _n: bare.get("/hello")
    if name in ("skill-change", "list-after-change"):
        return catalogue_change(bearer, then_list=name == "list-after-change")
    if name == "healthz":
        return lambda client, _n: client.get("/healthz")
    if name == "me":
        return lambda client, _n: client.get("/api/v1/me", headers=bearer)
    if name == "list":
        return lambda client, _n: client.get("/api/v1/skills?limit=50", headers=bearer)
    if name == "dashboard":
        return dashboard_callback(app, accounts)
    if name == "search":
        searches = [path for _, path, _, _ in read(engine_url, search_requests, seed)]
        return lambda client, n: client.get(searches[n % len(searches)], headers=bearer)
    upserts = read(engine_url, upsert_requests, WARMUP_REQUESTS + requests)

    def upsert(client: FlaskClient, n: int) -> TestResponse:
        _, path, etag, body = upserts[n]
        headers = {**bearer, "If-Match": etag, "Content-Type": "application/json"}
        return client.put(path, data=body, headers=headers)

    return upsert


def catalogue_change(bearer: dict[str, str], *, then_list: bool) -> Call:
    """Change the first skill's description (with its ETag); with ``then_list``, read the list."""
    current: dict[str, str] = {}

    def call(client: FlaskClient, n: int) -> TestResponse:
        if not current:
            listed = client.get("/api/v1/skills?limit=1", headers=bearer).get_json()
            current["path"] = f"/api/v1/skills/{listed['items'][0]['id']}"
            current["etag"] = client.get(current["path"], headers=bearer).headers["ETag"]
        change = {"description": f"Change {n}."}
        headers = {**bearer, "If-Match": current["etag"]}
        changed = client.patch(current["path"], json=change, headers=headers)
        answered("skill-change", changed)
        current["etag"] = changed.headers["ETag"]
        return client.get("/api/v1/skills?limit=50", headers=bearer) if then_list else changed

    return call


def read(engine_url: str, requests_from: Callable[[Session, int], Lines], arg: int) -> Lines:
    """Requests the harness builds from the benchmark's data, read on a connection of its own."""
    engine = make_engine(engine_url)
    try:
        with Session(engine) as session:
            return requests_from(session, arg)
    finally:
        engine.dispose()


def dashboard_callback(app: Flask, accounts: Accounts) -> Call:
    """The dashboard's main callback, sent with a signed-in viewer's cookie and CSRF token.

    The viewer signs in over HTTP as in the harness (the app is served on a free port
    for that moment); the profiled callbacks then go through the test client.
    """
    port = free_port()
    server = make_server(HOST, port, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        signed_in = dashboard_headers(port, accounts.viewer_email, accounts.viewer_password)
    finally:
        server.shutdown()
    headers = dict(line.split(": ", 1) for line in signed_in)
    base_url, body = f"http://{HOST}:{port}", callback_body()
    return lambda client, _n: client.post(CALLBACK, base_url=base_url, data=body, headers=headers)


def profile(name: str, call: Call, client: FlaskClient, requests: int, *, show_all: bool) -> str:
    for n in range(WARMUP_REQUESTS):
        answered(name, call(client, n))
    profiler = Profiler(interval=0.001)
    with profiler:
        for n in range(WARMUP_REQUESTS, WARMUP_REQUESTS + requests):
            answered(name, call(client, n))
    (RESULTS_DIR / f"profile-{name}.html").write_text(profiler.output_html())
    return profiler.output_text(unicode=True, show_all=show_all)


def answered(name: str, response: TestResponse) -> None:
    if response.status_code >= 400:
        raise SystemExit(f"{name}: HTTP {response.status_code} {response.get_data(as_text=True)}")


def scenario_parser(
    description: str, *, requests: int, scenarios: Sequence[str] = SCENARIOS
) -> argparse.ArgumentParser:
    """The options of every tool that runs these scenarios in-process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", default=os.environ.get(URL_ENV))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--reuse-data", action="store_true", help="skip generating the data")
    parser.add_argument(
        "--scenario", action="append", choices=scenarios, help="repeatable (default: all)"
    )
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--seed", type=int, default=7)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = scenario_parser(__doc__.split("\n\n")[0], requests=300)
    parser.add_argument(
        "--show-all", action="store_true", help="print library frames too, not only the app's"
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error(f"--database-url or {URL_ENV} is required (PostgreSQL)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.reuse_data:
        generate(args.database_url, people=args.people)
    RESULTS_DIR.mkdir(exist_ok=True)
    with ExitStack() as stack:
        app, accounts = in_process_app(stack, args.database_url, args.redis_url)
        log = stack.enter_context((RESULTS_DIR / "profile.log").open("w"))
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log)
        client = app.test_client(use_cookies=False)
        for name in args.scenario or SCENARIOS:
            call = scenario(
                name, app, accounts, bench_url(args.database_url), args.requests, args.seed
            )
            print(f"## {name}: {args.requests} requests\n")
            print(profile(name, call, client, args.requests, show_all=args.show_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
