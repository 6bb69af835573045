"""Do proficiency writers of one skill wait for each other? 20 of them, on PostgreSQL.

Each writer is a thread that replaces the level of existing proficiencies of the
same skill (the most widely held one), each for a different person, through the
service (``proficiencies.upsert_proficiency`` in a transaction of its own, with its
history and audit event), as fast as it can. The run is bounded: ``--writes`` per
writer, and it stops at ``--seconds`` whatever is left. A monitor samples
``pg_locks`` every few milliseconds and counts, per kind of lock, how often one of
the writers was waiting for a lock another one held.

    .venv/bin/python bench/concurrent_writers.py --database-url "$SKILLS_BENCH_DATABASE_URL"
    .venv/bin/python bench/concurrent_writers.py --hot-counter     # the design avoided
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/concurrent_writers.py

``--hot-counter`` adds to every write what a single counter row per skill and
level would cost: ``UPDATE`` of that row in the writer's transaction (on a scratch
table, ``bench_hot_counter``, created in the bench schema). Threads share the
interpreter's lock, so the figures compare runs with each other, not with a
deployment of many processes. It writes to the ``skills_bench`` schema only (levels
of 20 x ``--writes`` proficiencies); refill it with ``generate.py`` afterwards for
exact charts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from generate import URL_ENV, bench_url, progress
from skills_service import create_app
from skills_service.database import make_engine
from skills_service.extensions import db
from skills_service.models import Proficiency
from skills_service.services import proficiencies
from skills_service.services.proficiencies import ProficiencyInput

DEFAULT_WRITERS = 20
DEFAULT_WRITES = 25
DEFAULT_SECONDS = 60.0
SAMPLE_SECONDS = 0.005
WAITING = text(
    """
    SELECT waiting.locktype, coalesce(waiting.relation::regclass::text, '')
    FROM pg_locks waiting
    JOIN pg_stat_activity activity ON activity.pid = waiting.pid
    WHERE NOT waiting.granted AND activity.application_name = :name
    """
)


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    waits: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def targets(engine: Engine, writers: int, writes: int) -> tuple[int, list[list[tuple[int, int]]]]:
    """The most widely held skill, and for each writer its own people's proficiencies."""
    with Session(engine) as session:
        skill_id = session.scalars(
            select(Proficiency.skill_id)
            .group_by(Proficiency.skill_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        rows = session.execute(
            select(Proficiency.person_id, Proficiency.level)
            .where(Proficiency.skill_id == skill_id)
            .order_by(Proficiency.person_id)
            .limit(writers * writes)
        ).all()
    plans = [[(int(p), int(level)) for p, level in rows[n::writers]] for n in range(writers)]
    return skill_id, plans


def writer(
    app: Flask, skill_id: int, plan: Sequence[tuple[int, int]], run: Run, deadline: float, hot: bool
) -> None:
    for person_id, level in plan:
        if time.monotonic() > deadline:
            return
        start = time.perf_counter()
        try:
            with app.app_context(), db.session.begin():
                new_level = level % 5 + 1
                proficiencies.upsert_proficiency(
                    db.session,
                    person_id=person_id,
                    skill_id=skill_id,
                    data=ProficiencyInput(level=new_level),
                    actor_id=None,
                    if_match=None,
                    unconditional=True,
                )
                if hot:
                    db.session.execute(
                        text(
                            "UPDATE bench_hot_counter SET people = people + 1 "
                            "WHERE skill_id = :skill AND level = :level"
                        ),
                        {"skill": skill_id, "level": new_level},
                    )
        except Exception:  # counted and reported; a benchmark keeps going
            with run.lock:
                run.failures += 1
            continue
        with run.lock:
            run.latencies.append(time.perf_counter() - start)


def monitor(engine: Engine, name: str, run: Run, done: threading.Event) -> None:
    with engine.connect() as connection:
        while not done.is_set():
            waiting = connection.execute(WAITING, {"name": name}).all()
            connection.rollback()
            with run.lock:
                run.samples += 1
                run.waits.update(f"{kind} {relation}".strip() for kind, relation in waiting)
            time.sleep(SAMPLE_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(URL_ENV))
    parser.add_argument("--writers", type=int, default=DEFAULT_WRITERS)
    parser.add_argument("--writes", type=int, default=DEFAULT_WRITES)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--hot-counter", action="store_true")
    args = parser.parse_args(argv)
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error(f"--database-url (or {URL_ENV}) must name a PostgreSQL database")
    name = f"bench-writers-{secrets.token_hex(4)}"
    url = bench_url(args.database_url)
    url += ("&" if "?" in url else "?") + f"application_name={name}"
    os.environ.update(
        SKILLS_ENV="development",
        SKILLS_SECRET_KEY=secrets.token_urlsafe(48),
        SKILLS_DATABASE_URL=url,
        SKILLS_INSTANCE_PATH=str(Path(__file__).parent / "results" / "instance"),
    )
    app = create_app()
    engine = make_engine(bench_url(args.database_url))
    skill_id, plans = targets(engine, args.writers, args.writes + 1)
    if args.hot_counter:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS bench_hot_counter"))
            connection.execute(
                text(
                    "CREATE TABLE bench_hot_counter AS SELECT :skill AS skill_id, "
                    "level, 0 AS people FROM generate_series(1, 5) AS level"
                ),
                {"skill": skill_id},
            )
    run = Run()
    for plan in plans:  # one warm-up write each: connections, statement caches
        writer(app, skill_id, plan[:1], run, time.monotonic() + args.seconds, args.hot_counter)
    run = Run()
    done = threading.Event()
    watcher = threading.Thread(target=monitor, args=(engine, name, run, done))
    watcher.start()
    deadline = time.monotonic() + args.seconds
    threads = [
        threading.Thread(
            target=writer, args=(app, skill_id, plan[1:], run, deadline, args.hot_counter)
        )
        for plan in plans
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    done.set()
    watcher.join()
    if args.hot_counter:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE bench_hot_counter"))
    engine.dispose()
    report(args, run, elapsed)
    return 0


def report(args: argparse.Namespace, run: Run, elapsed: float) -> None:
    ms = sorted(latency * 1000 for latency in run.latencies)
    progress(f"{len(ms)} writes in {elapsed:.1f} s, {run.failures} failed")
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else 0.0
    print(
        "| writers | hot counter | writes/s | p50 ms | p99 ms | failed | samples "
        "| waiting (per sample) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    waits = ", ".join(
        f"{kind} {count / max(run.samples, 1):.2f}" for kind, count in run.waits.most_common()
    )
    print(
        f"| {args.writers} | {'yes' if args.hot_counter else 'no'} | {len(ms) / elapsed:.0f} "
        f"| {statistics.median(ms) if ms else 0:.1f} | {p99:.1f} | {run.failures} "
        f"| {run.samples} | {waits or 'none'} |"
    )


if __name__ == "__main__":
    sys.exit(main())
