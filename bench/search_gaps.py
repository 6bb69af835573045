"""Time people search and team gap analysis, the two queries that grow with the org.

Each iteration calls the real service functions, exactly as the API does:
``people_matching`` with three ``skill >= level`` conditions (drawn, seeded, from the
most commonly held skills with levels 2-4, so every query has to sift through tens
of thousands of rows) and ``gaps`` for a random team. A session and its connection
are opened before the clock starts, so the figures are query and ORM time, not
connection set-up. Warm-up iterations run first and are not counted.

Two ways to run it::

    # generate and time each backend, then print one table (what `make bench` runs)
    .venv/bin/python bench/search_gaps.py --backend both

    # time a database that bench/generate.py has filled
    .venv/bin/python bench/search_gaps.py --database-url URL

The PostgreSQL URL comes from ``--database-url`` or ``$SKILLS_BENCH_DATABASE_URL``;
the SQLite database is a scratch file under ``bench/results/``, removed afterwards.
``--explain`` appends the plan of one search and one gap analysis, taken from the SQL
the service really sent. These are benchmarks, not tests: they report, never fail.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from generate import (
    DEFAULT_PEOPLE,
    DEFAULT_PER_PERSON,
    DEFAULT_SEED,
    URL_ENV,
    GenerationReport,
    bench_url,
    generate,
    is_postgresql,
    redacted,
    remove_sqlite_files,
)
from skills_service.dashboard.charts import ChartCache, cache_key, chart_figures
from skills_service.database import make_engine
from skills_service.models import Person, Proficiency, Team
from skills_service.services import analytics
from skills_service.services.search import SkillCondition, people_matching
from skills_service.services.teams import gaps

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COMMON_SKILLS = 20
CONDITIONS = 3
CONDITION_LEVELS = (2, 4)
PAGE_SIZE = 50
DEFAULT_ITERATIONS = 200
DEFAULT_WARMUP = 20
DASHBOARD_MIN_ITERATIONS = 20
DASHBOARD_WARMUP = 3
"""The dashboard aggregates read every proficiency, so they get a tenth of the runs."""

OPERATIONS = (
    "search",
    "gaps",
    "dashboard (org)",
    "dashboard (team)",
    "dashboard (org, cached)",
    "dashboard (org, stale)",
)
Operation = Callable[[Session], int]
"""One benchmarked call; returns the size of its answer (matches, or gap rows)."""


@dataclass(frozen=True)
class Options:
    iterations: int = DEFAULT_ITERATIONS
    warmup: int = DEFAULT_WARMUP
    seed: int = DEFAULT_SEED
    explain: bool = False
    only: frozenset[str] | None = None
    """The operations to time (``--only``); None for every one."""


@dataclass(frozen=True)
class Dataset:
    """What a filled database holds, read back rather than assumed."""

    version: str
    people: int
    proficiencies: int
    common_skills: tuple[int, ...]
    team_ids: tuple[int, ...]


@dataclass(frozen=True)
class Timing:
    """Latencies of one operation on one backend, in milliseconds."""

    operation: str
    samples_ms: tuple[float, ...]
    result_sizes: tuple[int, ...]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[-1]

    @property
    def max(self) -> float:
        return max(self.samples_ms)

    @property
    def median_size(self) -> float:
        return statistics.median(self.result_sizes)


@dataclass(frozen=True)
class BackendRun:
    dataset: Dataset
    generation: GenerationReport | None
    timings: tuple[Timing, ...]
    plans: dict[str, list[str]] = field(default_factory=dict)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def describe(session: Session) -> Dataset:
    held = func.count().label("held")
    common = session.execute(
        select(Proficiency.skill_id, held)
        .group_by(Proficiency.skill_id)
        .order_by(held.desc(), Proficiency.skill_id)
        .limit(COMMON_SKILLS)
    ).all()
    return Dataset(
        version=server_version(session),
        people=session.scalar(select(func.count()).select_from(Person)) or 0,
        proficiencies=session.scalar(select(func.count()).select_from(Proficiency)) or 0,
        common_skills=tuple(skill_id for skill_id, _ in common),
        team_ids=tuple(session.scalars(select(Team.id).order_by(Team.id))),
    )


def server_version(session: Session) -> str:
    if session.get_bind().dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    version = str(session.scalar(text("SHOW server_version")))
    return f"PostgreSQL {version.split()[0]}"


def search_operation(rng: random.Random, skills: Sequence[int], today: date) -> Operation:
    """Each call asks for a fresh combination of common skills, as real users vary."""

    def run(session: Session) -> int:
        chosen = rng.sample(list(skills), min(CONDITIONS, len(skills)))
        conditions = [
            SkillCondition(skill_id=skill_id, min_level=rng.randint(*CONDITION_LEVELS))
            for skill_id in chosen
        ]
        page = people_matching(
            session, conditions=conditions, text=None, page=1, limit=PAGE_SIZE, today=today
        )
        return page.total

    return run


def gaps_operation(rng: random.Random, team_ids: Sequence[int], today: date) -> Operation:
    def run(session: Session) -> int:
        return len(gaps(session, team_id=rng.choice(team_ids), today=today))

    return run


def dashboard_operation(
    rng: random.Random, team_ids: Sequence[int], today: date, *, team: bool, cache: ChartCache
) -> Operation:
    """What one dashboard callback computes, through ``cache`` (a cache with a zero TTL
    computes every time): the org charts, or one team's with its heatmap and gaps."""

    def run(session: Session) -> int:
        scope = analytics.Scope(today=today, team_id=rng.choice(team_ids) if team else None)
        charts = cache.get_or_compute(
            cache_key(scope), today, lambda: chart_figures(session, scope)
        )
        return len(charts)

    return run


def time_once(engine: Engine, operation: Operation) -> tuple[float, int]:
    """One call in a fresh session, like one request; the connection is checked out first."""
    with Session(engine) as session:
        session.connection()
        start = time.perf_counter()
        size = operation(session)
        elapsed_ms = (time.perf_counter() - start) * 1000
        session.rollback()
    return elapsed_ms, size


def measure(
    engine: Engine, label: str, name: str, operation: Operation, options: Options
) -> Timing:
    for _ in range(options.warmup):
        time_once(engine, operation)
    samples = [time_once(engine, operation) for _ in range(options.iterations)]
    timing = Timing(
        operation=name,
        samples_ms=tuple(elapsed for elapsed, _ in samples),
        result_sizes=tuple(size for _, size in samples),
    )
    progress(
        f"{label} {name}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms, max {timing.max:.1f} ms"
    )
    return timing


def explain(engine: Engine, operation: Operation) -> list[str]:
    """The plan of the main query: the last statement ``operation`` sends, run again.

    Capturing the statement from the engine rather than rewriting it by hand means
    the plan is the one the service really gets, bound parameters included.
    """
    sent: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            operation(session)
            statement, parameters = sent[-1]
            prefix = (
                "EXPLAIN QUERY PLAN "
                if engine.dialect.name == "sqlite"
                else "EXPLAIN (ANALYZE, BUFFERS) "
            )
            rows = session.connection().exec_driver_sql(prefix + statement, parameters).all()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return [" ".join(str(value) for value in row) for row in rows]


def time_database(url: str, options: Options, generation: GenerationReport | None) -> BackendRun:
    """Time both operations against one filled database, with one seeded sequence of calls."""
    engine = make_engine(bench_url(url))
    try:
        with Session(engine) as session:
            dataset = describe(session)
        if not dataset.common_skills or not dataset.team_ids:
            raise SystemExit(f"{redacted(url)} holds no data: run bench/generate.py first")
        today = date.today()
        rng = random.Random(options.seed)
        search = search_operation(rng, dataset.common_skills, today)
        team_gaps = gaps_operation(rng, dataset.team_ids, today)
        uncached = ChartCache(None, ttl_seconds=0)
        cached = ChartCache(None, ttl_seconds=3600)
        # Stale from the second call on (stored at t=0, read at t=2 with a 1 s TTL):
        # what a callback waits for while the refresh runs elsewhere. The refresh's
        # own cost is the uncached figure, so it is not run here.
        stale_clock = itertools.chain([0.0], itertools.repeat(2.0)).__next__
        stale = ChartCache(None, ttl_seconds=1, clock=stale_clock, run=lambda _job: None)
        fewer = replace(
            options,
            iterations=max(DASHBOARD_MIN_ITERATIONS, options.iterations // 10),
            warmup=min(options.warmup, DASHBOARD_WARMUP),
        )
        dashboards = {
            "dashboard (org)": (
                dashboard_operation(rng, (), today, team=False, cache=uncached),
                fewer,
            ),
            "dashboard (team)": (
                dashboard_operation(rng, dataset.team_ids, today, team=True, cache=uncached),
                fewer,
            ),
            "dashboard (org, cached)": (
                dashboard_operation(rng, (), today, team=False, cache=cached),
                options,
            ),
            "dashboard (org, stale)": (
                dashboard_operation(rng, (), today, team=False, cache=stale),
                options,
            ),
        }
        operations = {
            "search": (search, options),
            "gaps": (team_gaps, options),
            **dashboards,
        }
        timings = tuple(
            measure(engine, dataset.version, name, operation, runs)
            for name, (operation, runs) in operations.items()
            if options.only is None or name in options.only
        )
        plans: dict[str, list[str]] = {}
        if options.explain:
            plans = {"search": explain(engine, search), "gaps": explain(engine, team_gaps)}
    finally:
        engine.dispose()
    return BackendRun(dataset=dataset, generation=generation, timings=timings, plans=plans)


def run_backend(backend: str, args: argparse.Namespace, options: Options) -> BackendRun:
    """Generate a fresh database for ``backend`` and time it; SQLite's file is scratch."""
    if backend == "postgresql":
        return generate_and_time(args.database_url, args, options)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-{os.getpid()}.sqlite3"
    try:
        return generate_and_time(f"sqlite:///{path}", args, options)
    finally:
        if args.keep:
            progress(f"kept {path}")
        else:
            remove_sqlite_files(path)


def generate_and_time(url: str, args: argparse.Namespace, options: Options) -> BackendRun:
    report = generate(url, people=args.people, per_person=args.per_person, seed=options.seed)
    return time_database(url, options, report)


def render(runs: Sequence[BackendRun], options: Options) -> str:
    """Markdown tables, ready to paste into docs/benchmarks.md."""
    lines = [
        f"{options.iterations} iterations after {options.warmup} warm-up, seed {options.seed}; "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs",
        "",
        "| backend | operation | p50 ms | p95 ms | max ms | median result |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        for timing in run.timings:
            lines.append(
                f"| {run.dataset.version} | {timing.operation} | {timing.p50:.1f} "
                f"| {timing.p95:.1f} | {timing.max:.1f} | {timing.median_size:,.0f} |"
            )
    lines += [
        "",
        "| backend | people | proficiencies | teams | generation s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        seconds = "-" if run.generation is None else f"{run.generation.total_seconds:.1f}"
        lines.append(
            f"| {run.dataset.version} | {run.dataset.people:,} "
            f"| {run.dataset.proficiencies:,} | {len(run.dataset.team_ids):,} "
            f"| {seconds} |"
        )
    for run in runs:
        for operation, plan in run.plans.items():
            lines += ["", f"{run.dataset.version} {operation} plan:", "```", *plan, "```"]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        help="generate a fresh database for this backend (or both) and time it;"
        " without it, time the existing database at --database-url",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(URL_ENV),
        help=f"the database to time, or the PostgreSQL one for --backend (default: ${URL_ENV})",
    )
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--per-person", type=int, default=DEFAULT_PER_PERSON)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument(
        "--only",
        action="append",
        choices=OPERATIONS,
        help="time only this operation (repeatable; default: every one)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also print the plan of one search and one gap analysis",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch SQLite database under bench/results/"
    )
    parser.add_argument("--json", type=Path, help="also write the timings to this JSON file")
    args = parser.parse_args(argv)
    if args.iterations < 2:
        parser.error("--iterations must be at least 2")
    if args.backend is None and not args.database_url:
        parser.error(f"give --backend, or --database-url / ${URL_ENV} for an existing database")
    if args.backend in ("postgresql", "both") and not (
        args.database_url and is_postgresql(args.database_url)
    ):
        parser.error(f"--backend {args.backend} needs a PostgreSQL --database-url or ${URL_ENV}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        iterations=args.iterations,
        warmup=args.warmup,
        seed=args.seed,
        explain=args.explain,
        only=frozenset(args.only) if args.only else None,
    )
    if args.backend is None:
        runs = [time_database(args.database_url, options, generation=None)]
    else:
        backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
        runs = [run_backend(backend, args, options) for backend in backends]
    print(render(runs, options))
    if args.json is not None:
        args.json.write_text(json.dumps(as_json(runs), indent=2) + "\n")
    return 0


def as_json(runs: Sequence[BackendRun]) -> dict[str, dict[str, dict[str, float]]]:
    """Each backend's timings in milliseconds, by operation."""
    return {
        run.dataset.version: {
            timing.operation: {"p50_ms": timing.p50, "p95_ms": timing.p95, "max_ms": timing.max}
            for timing in run.timings
        }
        for run in runs
    }


if __name__ == "__main__":
    sys.exit(main())
