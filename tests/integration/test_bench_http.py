"""`make bench`'s HTTP harness, the request profiler, the counters and the summary run.

At a tiny scale (300 people, one-second runs, a few profiled requests) so that the
suite stays fast: what is checked is that every scenario is driven through the real
stack and answered without an error, not how fast. The numbers belong to
docs/benchmarks.md. The Flask-AppBuilder reference needs its own virtualenv
(``make bench-reference``, which ``make test`` runs): in CI it must be there; elsewhere,
without it, its rows must say they were skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import IN_CI, POSTGRES_URL, REDIS_URL

BENCH = Path(__file__).resolve().parents[2] / "bench"
HARNESS = BENCH / "http_load.py"
PROFILER = BENCH / "profile_request.py"
COUNTER = BENCH / "count_instructions.py"
SUMMARY = BENCH / "summary.py"
STATEMENTS = BENCH / "count_statements.py"
FAB_VENV = BENCH / ".venv-fab"
PROFILED = (
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
SCENARIOS = (
    "bare Flask: GET /hello",
    "bare Flask: the list's body",
    "GET /healthz",
    "GET /api/v1/skills?limit=50",
    "GET /api/v1/skills/{id}",
    "people search, 3 conditions",
    "proficiency upsert (PUT, If-Match)",
    "dashboard main callback (org-wide)",
)
REFERENCE = ("Flask-AppBuilder: list of 50", "Flask-AppBuilder: one skill")
SUMMARY_FROM_THE_HARNESS = (
    "`GET /api/v1/skills?limit=50`, req/s as a share of bare Flask with the same body",
    "proficiency upsert, p99 at 4 connections",
    "worker RSS, peak",
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


def table_rows(output: str) -> dict[str, list[str]]:
    """Every Markdown table row of ``output`` by its first cell."""
    return {
        cells[0]: cells
        for line in output.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[str]], Path]:
    """One tiny run of the harness: its table rows, and the directory of its JSON file."""
    if not (POSTGRES_URL and REDIS_URL):
        pytest.skip("the harness needs PostgreSQL and Redis")
    if shutil.which("wrk") is None:
        message = "wrk is missing: run `make system-packages`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("BENCHMARK TEST SKIPPED: " + message)
    if IN_CI and not FAB_VENV.exists():
        pytest.fail("the Flask-AppBuilder reference is missing: run `make bench-reference`")
    results = tmp_path_factory.mktemp("bench-results")
    finished = run_on_the_test_services(
        HARNESS,
        *("--people", "300", "--seconds", "1", "--warmup-seconds", "1"),
        *("--starts", "1", "--connections", "4", "--json", str(results / "http_load.json")),
    )
    return table_rows(finished.stdout), results


def test_the_http_benchmark_answers_every_scenario_without_errors(
    harness: tuple[dict[str, list[str]], Path],
) -> None:
    rows, _ = harness
    for scenario in SCENARIOS:
        requests_per_second, errors = rows[scenario][1], rows[scenario][5]
        assert float(requests_per_second.replace(",", "")) > 0, scenario
        assert errors == "0", f"{scenario}: {errors} errors"
    comparison = "GET /api/v1/skills?limit=50 against bare Flask: the list's body"
    assert rows[comparison][1].startswith("× "), rows[comparison]
    assert rows["list endpoint, 2 instances on one address"][1].endswith(", 0 errors")
    assert "cold start to ready, skills-service (median of 1)" in rows


def test_the_flask_appbuilder_reference_is_loaded_or_said_to_be_skipped(
    harness: tuple[dict[str, list[str]], Path],
) -> None:
    rows, _ = harness
    for scenario in REFERENCE:
        if FAB_VENV.exists():
            assert float(rows[scenario][1].replace(",", "")) > 0, scenario
            assert rows[scenario][5] == "0", f"{scenario}: {rows[scenario][5]} errors"
        else:
            assert rows[scenario][1] == "skipped", scenario


def test_the_summary_shows_the_harness_figures_against_their_targets(
    harness: tuple[dict[str, list[str]], Path],
) -> None:
    _, results = harness
    finished = subprocess.run(
        [sys.executable, str(SUMMARY), "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=True,
    )
    rows = table_rows(finished.stdout)
    for measure in SUMMARY_FROM_THE_HARNESS:
        assert rows[measure][1] != "not measured", measure
        assert rows[measure][3] in ("yes", "**no**"), measure
    assert rows["the list, instructions per request, warm"][1] == "not measured"


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
    for scenario in ("upsert", "hello", "list-after-change"):
        run_on_the_test_services(COUNTER, "--child", scenario, "--calls", "3")


@pytest.mark.skipif(not (POSTGRES_URL and REDIS_URL), reason="the counter needs PostgreSQL")
def test_the_statement_counter_counts_each_read_on_both_set_ups() -> None:
    finished = run_on_the_test_services(
        STATEMENTS, *("--people", "300", "--warmup", "1", "--repeats", "2")
    )
    rows = table_rows(finished.stdout)
    for read in ("GET /api/v1/skills?limit=50", "GET /api/v1/skills/{id}", "GET /api/v1/me"):
        assert all(re.fullmatch(r"\d+ \(\d+\)", cell) for cell in rows[read][1:]), rows[read]


def test_every_request_of_a_file_driven_load_is_one_of_the_files_even_with_more_threads(
    tmp_path: Path,
) -> None:
    """A file of one request loaded by two wrk threads: no thread falls back to wrk's
    default GET of the base address (the dashboard's load once sent half of those)."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is missing: run `make system-packages`")
    received: list[tuple[str, str]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.answer()

        def answer(self) -> None:
            received.append((self.command, self.path))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    requests = tmp_path / "one.tsv"
    requests.write_text('POST\t/callback\t-\t{"a": 1}\n')
    try:
        subprocess.run(
            [
                *("wrk", "-t2", "-c2", "-d1s", "-s", str(BENCH / "wrk_report.lua")),
                *(f"http://127.0.0.1:{server.server_port}", "--", str(requests), "2"),
            ],
            capture_output=True,
            timeout=30,
            check=True,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert received
    assert set(received) == {("POST", "/callback")}
