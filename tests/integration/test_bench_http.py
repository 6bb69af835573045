"""`make bench`'s HTTP harness runs end to end and prints its whole table.

At a tiny scale (300 people, one-second runs) so that the suite stays fast: what is
checked is that every scenario is driven through the real stack and answered
without an error, not how fast. The numbers belong to docs/benchmarks.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, POSTGRES_URL, REDIS_URL

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "http_load.py"
SCENARIOS = (
    "bare Flask baseline",
    "GET /api/v1/skills?limit=50",
    "people search, 3 conditions",
    "proficiency upsert (PUT, If-Match)",
    "dashboard main callback (org-wide)",
)
TIMEOUT_SECONDS = 300
"""A bound against a hang; a run takes about half a minute."""


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
    assert POSTGRES_URL is not None and REDIS_URL is not None
    finished = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            *("--database-url", POSTGRES_URL, "--redis-url", REDIS_URL),
            *("--people", "300", "--seconds", "1", "--warmup-seconds", "1"),
            *("--starts", "1", "--connections", "4"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
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
