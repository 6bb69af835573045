"""PostgreSQL's CPU per people search: the CPU that a search costs the database server.

Timings move with whatever else the machine runs; the CPU time the server's backend
spends on a query moves much less. This runs the seeded broad searches of
``search_gaps.py`` (the same sequence) on one connection, with parallel workers off
so that the backend does all the work, and divides the backend's user + system time
(read from ``/proc``, so the server must run on this machine) by the number of
searches.

Usage::

    .venv/bin/python bench/search_cpu.py --database-url "$SKILLS_BENCH_DATABASE_URL"
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from generate import URL_ENV, bench_url
from search_gaps import DEFAULT_ITERATIONS, DEFAULT_SEED, DEFAULT_WARMUP, describe, search_operation
from skills_service.database import make_engine


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a local process (fields 14 and 15 of ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get(URL_ENV), required=False)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error(f"give --database-url or ${URL_ENV}")
    engine = make_engine(bench_url(args.database_url))
    try:
        with Session(engine) as session:
            search = search_operation(
                random.Random(args.seed), describe(session).common_skills, date.today()
            )
            pid = int(session.scalar(text("SELECT pg_backend_pid()")) or 0)
            session.execute(text("SET max_parallel_workers_per_gather = 0"))
            for _ in range(args.warmup):
                search(session)
            start = backend_cpu_seconds(pid)
            for _ in range(args.iterations):
                search(session)
            used = backend_cpu_seconds(pid) - start
    finally:
        engine.dispose()
    print(f"PostgreSQL CPU per search: {used / args.iterations * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
