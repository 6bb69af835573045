"""CPU instructions per request, counted by callgrind: a measure the host's load does not move.

Timings on a shared machine move by a third from one hour to the next; instruction
counts repeat to within a fraction of a percent. So two versions of the code are
compared by counting: each scenario of ``profile_request.py`` runs in-process under
``valgrind --tool=callgrind``: the warm-up requests first, uncounted, then
``--requests`` more made inside ``functools.reduce``, and callgrind counts only what
runs inside that call (``--collect-atstart=no --toggle-collect=functools_reduce``),
so that start-up, imports and setting up the accounts, whose cost varies from run to
run by more than a request costs, are left out. Divided by ``--requests`` that is what
one request costs. Only the app's own process is counted, not PostgreSQL or Redis.
Hash randomisation is fixed (``PYTHONHASHSEED=0``). The ``hello`` scenario is the
bare Flask app of the HTTP benchmark (``baseline_app.py``) called the same way, so
that ``healthz`` is read as a multiple of it from the same run.

    .venv/bin/python bench/count_instructions.py --reuse-data --scenario me --scenario list

To compare versions, run it in a checkout of each (or with ``PYTHONPATH`` pointing
at the other version's ``src``). Under valgrind the app runs about 50 times slower:
a scenario takes one to two minutes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from generate import URL_ENV, bench_url, generate
from profile_request import SCENARIOS, answered, in_process_app, scenario, scenario_parser

WARMUP_REQUESTS = 20
COLLECTED = re.compile(r"Collected : (\d+)")
COUNTED_CALL = "functools_reduce"
"""The C function of ``functools.reduce``: callgrind counts only inside it."""
TIMEOUT_SECONDS = 1800


def serve(args: argparse.Namespace) -> None:
    """The child: the app in-process, the warm-up requests, then ``--calls`` requests of
    one scenario inside the one call that callgrind counts."""
    with ExitStack() as stack:
        app, accounts = in_process_app(stack, args.database_url, args.redis_url)
        engine_url = bench_url(args.database_url)
        call = scenario(args.child, app, accounts, engine_url, args.calls, args.seed)
        client = app.test_client(use_cookies=False)
        for n in range(WARMUP_REQUESTS):
            answered(args.child, call(client, n))

        def counted(_: None, n: int) -> None:
            answered(args.child, call(client, n))

        functools.reduce(counted, range(WARMUP_REQUESTS, WARMUP_REQUESTS + args.calls), None)


def instructions(args: argparse.Namespace, name: str, calls: int) -> int:
    """Instructions callgrind counted in ``calls`` requests of a child."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += ["--collect-atstart=no", f"--toggle-collect={COUNTED_CALL}"]
    command += [sys.executable, __file__, "--child", name, "--calls", str(calls)]
    command += ["--seed", str(args.seed), "--database-url", args.database_url]
    command += ["--redis-url", args.redis_url]
    finished = subprocess.run(
        command,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    counted = COLLECTED.search(finished.stderr)
    if finished.returncode != 0 or counted is None:
        raise SystemExit(f"{name}: the counted run failed\n{finished.stderr[-2000:]}")
    return int(counted.group(1))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = scenario_parser(__doc__.split("\n\n")[0], requests=100, scenarios=SCENARIOS)
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the counts to this JSON file")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error(f"--database-url or {URL_ENV} is required (PostgreSQL)")
    if args.child is None and shutil.which("valgrind") is None:
        parser.error("valgrind is missing (Debian's package valgrind)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        serve(args)
        return 0
    if not args.reuse_data:
        generate(args.database_url, people=args.people)
    print(f"| scenario | instructions per request (M), {args.requests} requests |")
    print("| --- | ---: |")
    counted: dict[str, float] = {}
    for name in args.scenario or SCENARIOS:
        counted[name] = instructions(args, name, args.requests) / args.requests / 1e6
        print(f"| {name} | {counted[name]:.2f} |", flush=True)
    derived = derived_rows(counted)
    for name, value in derived.items():
        print(f"| {name} | {value:.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({**counted, **derived}, indent=2) + "\n")
    return 0


LIST_AFTER_CHANGE = "list just after a catalogue change (list-after-change - skill-change)"
HEALTHZ_TIMES_HELLO = "healthz as a multiple of the bare app's hello (x)"


def derived_rows(counted: dict[str, float]) -> dict[str, float]:
    """What the issue's table asks that two scenarios give together."""
    rows = {}
    if "list-after-change" in counted and "skill-change" in counted:
        rows[LIST_AFTER_CHANGE] = counted["list-after-change"] - counted["skill-change"]
    if "healthz" in counted and counted.get("hello"):
        rows[HEALTHZ_TIMES_HELLO] = counted["healthz"] / counted["hello"]
    return rows


if __name__ == "__main__":
    sys.exit(main())
