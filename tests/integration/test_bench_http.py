"""`make bench`'s HTTP harness, the request profiler and the instruction counter run.

At a tiny scale (300 people, one-second runs, a few profiled requests) so that the
suite stays fast: what is checked is that every scenario is driven through the real
stack and answered without an error, not how fast. The numbers belong to
docs/benchmarks.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, POSTGRES_URL, REDIS_URL

BENCH = Path(__file__).resolve().parents[2] / "bench"
HARNESS = BENCH / "http_load.py"
PROFILER = BENCH / "profile_request.py"
COUNTER = BENCH / "count_instructions.py"
PROFILED = ("healthz", "me", "list", "search", "upsert", "dashboard")
SCENARIOS = (
    "bare Flask baseline",
    "GET /api/v1/skills?limit=50",
    "people search, 3 conditions",
    "proficiency upsert (PUT, If-Match)",
    "dashboard main callback (org-wide)",
)
TIMEOUT_SECONDS = 300
"""A bound against a hang; a run takes about half a minute."""


def run_on_the_test_services(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a bench script against the test PostgreSQL and Redis; it must succeed."""
    assert POSTGRES_URL is not None and REDIS_URL is not None
    finished = subprocess.run(
        [
            sys.executable,
            str(script),
            *("--database-url", POSTGRES_URL, "--redis-url", REDIS_URL),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished


@pytest.fixture
def wrk() -> None:
    if shutil.which("wrk") is None:
        message = "wrk is missing: run `make system-packages`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("BENCHMARK TEST SKIPPED: " + message)


@pytest.mark.skipif(not (POSTGRES_URL and REDIS_URL), reason="the harness needs PostgreSQL")
@pytest.mark.usefixtures("wrk")
def test_the_http_benchmark_prints_every_scenario_answered_without_errors() -> None:
    finished = run_on_the_test_services(
        HARNESS,
        *("--people", "300", "--seconds", "1", "--warmup-seconds", "1"),
        *("--starts", "1", "--connections", "4"),
    )
    rows = {
        cells[0]: cells
        for line in finished.stdout.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    for scenario in SCENARIOS:
        requests_per_second, errors = rows[scenario][1], rows[scenario][6]
        assert float(requests_per_second.replace(",", "")) > 0, scenario
        assert errors == "0", f"{scenario}: {errors} errors"
    assert rows["list endpoint, 2 instances on one address"][1].endswith(", 0 errors")
    assert "cold start to ready, skills-service (median of 1)" in rows


@pytest.mark.skipif(not (POSTGRES_URL and REDIS_URL), reason="the profiler needs PostgreSQL")
def test_the_profiler_profiles_every_scenario_and_saves_its_call_tree() -> None:
    for name in PROFILED:
        (BENCH / "results" / f"profile-{name}.html").unlink(missing_ok=True)
    finished = run_on_the_test_services(PROFILER, "--people", "300", "--requests", "5")
    for name in PROFILED:
        assert f"## {name}: 5 requests" in finished.stdout
        assert (BENCH / "results" / f"profile-{name}.html").stat().st_size > 0
    assert "skills_service/" in finished.stdout, "the call tree shows the app's own frames"


@pytest.mark.skipif(not POSTGRES_URL, reason="the instruction counter needs PostgreSQL")
def test_the_instruction_counters_child_serves_its_scenario_in_process() -> None:
    """What callgrind counts: the app in-process, answering a few upserts without an error.

    Valgrind itself is left out here: it runs the app fifty times slower.
    """
    assert POSTGRES_URL is not None
    generate = [sys.executable, str(BENCH / "generate.py"), "--database-url", POSTGRES_URL]
    subprocess.run(
        [*generate, "--people", "300"],
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
        check=True,
    )
    run_on_the_test_services(COUNTER, "--child", "upsert", "--calls", "5")
