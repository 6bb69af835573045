"""The fast path's numbers in one table, from the JSON files of one ``make bench`` run.

``make bench`` runs ``search_gaps.py``, ``http_load.py``, ``count_instructions.py`` and
``count_statements.py``, each with ``--json bench/results/<name>.json``; this reads the
four files and prints every measure beside its target, ready to paste. A file that is
missing (a step not run) leaves its rows "not measured"; a row whose reference was
skipped (no Flask-AppBuilder virtualenv) says so.

    .venv/bin/python bench/summary.py [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from count_instructions import HEALTHZ_TIMES_HELLO, LIST_AFTER_CHANGE
from http_load import (
    DASHBOARD,
    FAB_ITEM,
    FAB_LIST,
    ITEM,
    LIST,
    RESULTS_DIR,
    SAME_BODY,
    SEARCH,
    UPSERT,
)

FILES = ("search_gaps", "http_load", "instructions", "statements")
Results = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One measure: how to read it from the results, its target, and how it is shown."""

    measure: str
    value: Callable[[Results], float | None]
    target: float
    better: Callable[[float, float], bool]
    shown: str
    target_shown: str


def lookup(*path: str) -> Callable[[Results], float | None]:
    def read(results: Results) -> float | None:
        found: Any = results
        for key in path:
            if not isinstance(found, dict) or found.get(key) is None:
                return None
            found = found[key]
        return float(found)

    return read


def postgresql(operation: str, figure: str) -> Callable[[Results], float | None]:
    """A query benchmark figure on PostgreSQL (the backend whose version starts so)."""

    def read(results: Results) -> float | None:
        for version, timings in results.get("search_gaps", {}).items():
            if version.startswith("PostgreSQL") and operation in timings:
                return float(timings[operation][figure])
        return None

    return read


def statements(setup: str) -> Callable[[Results], float | None]:
    """The most statements any repeated read sent in that set-up."""

    def read(results: Results) -> float | None:
        counted = results.get("statements", {}).get(setup)
        return float(max(read["statements"] for read in counted.values())) if counted else None

    return read


AT_MOST, AT_LEAST = operator.le, operator.ge
ROWS = (
    Row(
        "`GET /api/v1/skills?limit=50`, req/s as a share of bare Flask with the same body",
        lookup("http_load", "ratios", f"{LIST} / {SAME_BODY}"),
        0.35,
        AT_LEAST,
        "× {:.2f}",
        ">= × 0.35 (aim × 0.5)",
    ),
    Row(
        "the list, instructions per request, warm",
        lookup("instructions", "list"),
        4,
        AT_MOST,
        "{:.2f} M",
        "<= 4 M",
    ),
    Row(
        "the list, instructions just after a catalogue change",
        lookup("instructions", LIST_AFTER_CHANGE),
        12,
        AT_MOST,
        "{:.2f} M",
        "<= 12 M",
    ),
    Row(
        "`GET /api/v1/me`, instructions",
        lookup("instructions", "me"),
        3,
        AT_MOST,
        "{:.2f} M",
        "<= 3 M",
    ),
    Row(
        "`/healthz` instructions, as a multiple of the bare app's `/hello`",
        lookup("instructions", HEALTHZ_TIMES_HELLO),
        1.3,
        AT_MOST,
        "{:.2f} x",
        "<= 1.3 x",
    ),
    Row(
        "SQL statements, repeated authenticated read of unchanged data, PostgreSQL + Redis",
        statements("PostgreSQL + Redis"),
        0,
        AT_MOST,
        "{:.0f}",
        "0",
    ),
    Row(
        "the same, embedded SQLite",
        statements("embedded SQLite"),
        1,
        AT_MOST,
        "{:.0f}",
        "<= 1",
    ),
    Row(
        "people search, broad case, p95 alone",
        postgresql("search", "p95_ms"),
        25,
        AT_MOST,
        "{:.1f} ms",
        "<= 25 ms",
    ),
    Row(
        "people search, broad case, req/s at {connections} connections",
        lookup("http_load", "loads", SEARCH, "per_second"),
        200,
        AT_LEAST,
        "{:,.0f}",
        ">= 200",
    ),
    Row(
        "proficiency upsert, p99 at {connections} connections",
        lookup("http_load", "loads", UPSERT, "p99_ms"),
        150,
        AT_MOST,
        "{:.1f} ms",
        "<= 150 ms",
    ),
    Row(
        "dashboard org-wide callback, cold (nothing cached), p95",
        postgresql("dashboard (org)", "p95_ms"),
        300,
        AT_MOST,
        "{:,.0f} ms",
        "<= 300 ms",
    ),
    Row(
        "dashboard main callback, req/s at {connections} connections",
        lookup("http_load", "loads", DASHBOARD, "per_second"),
        400,
        AT_LEAST,
        "{:,.0f}",
        ">= 400",
    ),
    Row(
        "worker RSS, peak",
        lookup("http_load", "worker_peak_mb"),
        200,
        AT_MOST,
        "{:.1f} MB",
        "<= 200 MB",
    ),
    Row(
        "worker cold start to ready (median)",
        lookup("http_load", "cold_start_s", "skills-service"),
        2,
        AT_MOST,
        "{:.2f} s",
        "<= 2 s",
    ),
    Row(
        "the list, req/s as a multiple of Flask-AppBuilder's (50 rows)",
        lookup("http_load", "ratios", f"{LIST} / {FAB_LIST}"),
        3,
        AT_LEAST,
        "× {:.2f}",
        ">= × 3",
    ),
    Row(
        "one skill, req/s as a multiple of Flask-AppBuilder's",
        lookup("http_load", "ratios", f"{ITEM} / {FAB_ITEM}"),
        3,
        AT_LEAST,
        "× {:.2f}",
        ">= × 3",
    ),
)


def load(results_dir: Path) -> Results:
    found: Results = {}
    for name in FILES:
        path = results_dir / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def render(results: Results) -> str:
    connections = results.get("http_load", {}).get("connections", "?")
    skipped = set(results.get("http_load", {}).get("skipped", ()))
    lines = ["| measure | measured | target | met |", "| --- | ---: | ---: | --- |"]
    for row in ROWS:
        value = row.value(results)
        if value is None:
            fab = FAB_LIST in skipped and "Flask-AppBuilder" in row.measure
            shown, met = ("skipped (no bench/.venv-fab)" if fab else "not measured"), "-"
        else:
            shown = row.shown.format(value)
            met = "yes" if row.better(value, row.target) else "**no**"
        measure = row.measure.format(connections=connections)
        lines.append(f"| {measure} | {shown} | {row.target_shown} | {met} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(render(load(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
