"""SQL statements per repeated authenticated read of unchanged data, counted with SQLAlchemy events.

Two set-ups, each in-process through Flask's test client with a read/write token:
the HTTP benchmark's (PostgreSQL and Redis, production settings, its filled database)
and the embedded default (SQLite in a scratch instance directory, no Redis, a small
demo catalogue). Each read is sent ``--warmup`` times first (first-use bookkeeping,
caches filling), then ``--repeats`` times more; the figure is the most statements any
one of those repeats sent. Every statement the engine executes is counted
(``before_cursor_execute``), and so are the pool checkouts beside them: each pings
the server first (``pool_pre_ping``), a round trip that is not a statement of the
app's.

    .venv/bin/python bench/count_statements.py --reuse-data
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from flask import Flask
from sqlalchemy import event

from generate import DEFAULT_PEOPLE, URL_ENV, generate
from http_load import RESULTS_DIR, cli, create_accounts, service_environ
from skills_service import create_app
from skills_service.extensions import db

READS = ("/api/v1/skills?limit=50", "/api/v1/skills/{id}", "/api/v1/me")
EMBEDDED_PEOPLE = 20


@dataclass
class Sent:
    """What one request sent to the database."""

    statements: int = 0
    checkouts: int = 0
    """Pool checkouts: each one pings the server first (``pool_pre_ping``)."""


@contextmanager
def counting(app: Flask) -> Iterator[Sent]:
    sent = Sent()

    def statement(*_args: Any) -> None:
        sent.statements += 1

    def checkout(*_args: Any) -> None:
        sent.checkouts += 1

    engine = db.engine(app)
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "checkout", checkout)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "checkout", checkout)


def app_from(environ: Mapping[str, str], log: TextIO) -> Flask:
    """The app with these settings, its log lines sent to ``log``."""
    os.environ.clear()
    os.environ.update(environ)
    app = create_app()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log)
    return app


def most_statements(
    app: Flask, token: str, *, warmup: int, repeats: int
) -> dict[str, dict[str, int]]:
    """For each read, the most statements (and pool checkouts) one of ``repeats`` sent."""
    client = app.test_client(use_cookies=False)
    bearer = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/skills?limit=1", headers=bearer).get_json()
    skill_id = listed["items"][0]["id"]
    found = {}
    for read in READS:
        path = read.format(id=skill_id)
        for _ in range(warmup):
            client.get(path, headers=bearer)
        sent = []
        for _ in range(repeats):
            with counting(app) as one:
                response = client.get(path, headers=bearer)
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code}")
            sent.append(one)
        found[f"GET {read}"] = {
            "statements": max(one.statements for one in sent),
            "checkouts": max(one.checkouts for one in sent),
        }
    return found


def postgresql(args: argparse.Namespace, scratch: Path, log: TextIO) -> dict[str, dict[str, int]]:
    environ = service_environ(args.database_url, args.redis_url, scratch)
    accounts = create_accounts(environ)
    app = app_from(environ, log)
    return most_statements(app, accounts.token, warmup=args.warmup, repeats=args.repeats)


def embedded(args: argparse.Namespace, scratch: Path, log: TextIO) -> dict[str, dict[str, int]]:
    """The embedded default: SQLite, no Redis (rate limits in-process)."""
    environ = service_environ(f"sqlite:///{scratch / 'skills.db'}", "", scratch)
    del environ["SKILLS_REDIS_URL"]
    environ["SKILLS_ALLOW_SQLITE"] = "true"
    cli(environ, "db", "upgrade")
    cli(environ, "demo-data", "--people", str(EMBEDDED_PEOPLE))
    accounts = create_accounts(environ)
    app = app_from(environ, log)
    return most_statements(app, accounts.token, warmup=args.warmup, repeats=args.repeats)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get(URL_ENV))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--reuse-data", action="store_true", help="skip generating the data")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the counts to this JSON file")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error(f"--database-url or {URL_ENV} is required (PostgreSQL)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.reuse_data:
        generate(args.database_url, people=args.people)
    saved = dict(os.environ)
    counted: dict[str, dict[str, dict[str, int]]] = {}
    with ExitStack() as stack:
        stack.callback(lambda: (os.environ.clear(), os.environ.update(saved)))
        RESULTS_DIR.mkdir(exist_ok=True)
        log = stack.enter_context((RESULTS_DIR / "statements.log").open("w"))
        for name, setup in (("PostgreSQL + Redis", postgresql), ("embedded SQLite", embedded)):
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="statements-")))
            counted[name] = setup(args, scratch, log)
    print(
        "| read, repeated, data unchanged | "
        + " | ".join(f"{name}: statements (pool checkouts)" for name in counted)
        + " |"
    )
    print("| --- |" + " ---: |" * len(counted))
    for read in counted["PostgreSQL + Redis"]:
        cells = [
            f"{found[read]['statements']} ({found[read]['checkouts']})"
            for found in counted.values()
        ]
        print(f"| {read} | " + " | ".join(cells) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps(counted, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
