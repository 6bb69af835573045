"""Load skills-service and a bare Flask app side by side, under the same gunicorn settings.

One run on one machine: fill PostgreSQL with the benchmark organisation (``generate.py``),
start the baseline (``baseline_app.py``) and skills-service with the service's own
gunicorn configuration and worker count, production settings, Redis for sessions and
rate limits, audit and JSON logging on, and load each with wrk at the same
concurrency. It prints one Markdown table: requests/s, the ratio to the baseline of the
same run, p50/p95/p99 latency, errors, and the CPU each request cost the app workers,
PostgreSQL and Redis. Then cold start to ready, the workers' peak memory, and
throughput with one and with two instances behind one loopback address.

Rate limits stay on, with budgets raised so that the load is counted, not refused
(``SKILLS_RATELIMIT_DEFAULT`` and ``SKILLS_RATELIMIT_PER_ADDRESS``).

    .venv/bin/python bench/http_load.py            # what `make bench` runs
    .venv/bin/python bench/http_load.py --people 10000 --seconds 5

These are benchmarks, not tests: they report, never fail on a number.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.orm import Session

from baseline_app import SAME_BODY_ENV
from generate import DEFAULT_PEOPLE, URL_ENV, bench_url, generate, redacted
from search_gaps import CONDITION_LEVELS, CONDITIONS, PAGE_SIZE, describe
from skills_service.database import make_engine
from skills_service.gunicorn_conf import DEFAULT_WORKERS
from skills_service.services.common import etag_for

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
WRK_SCRIPT = BENCH_DIR / "wrk_report.lua"
BIN = Path(sys.executable).parent
FAB_BIN = BENCH_DIR / ".venv-fab" / "bin"
"""Flask-AppBuilder's own virtualenv (``make bench-packages``); without it that row is skipped."""
HOST = "127.0.0.1"
UNCOUNTED_BUDGET = "100000000/minute"
SEARCH_URLS = 200
UPSERTS = 40_000
"""Proficiencies replaced by each of the two upsert runs (warm-up and measured)."""
READY_TIMEOUT_SECONDS = 60.0
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CALLBACK = "/dashboard/_dash-update-component"
DASHBOARD_CSRF_COOKIE = "skills_dashboard_csrf"
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def progress(message: str) -> None:
    print(f"[http] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Load:
    """What wrk measured for one scenario, with the CPU it cost each process group."""

    scenario: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_ms_per_request: Mapping[str, float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@dataclass
class Server:
    """A gunicorn master started by the harness, and how long it took to be ready."""

    name: str
    process: subprocess.Popen[bytes]
    ready_seconds: float

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- processes ---------------------------------------------------------------------------


def get(port: int, path: str, headers: Mapping[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", path, headers=dict(headers or {}))
    response = connection.getresponse()
    response.read()
    return response


def wait_ready(process: subprocess.Popen[bytes], port: int, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with {process.returncode}")
        try:
            if get(port, path).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"the server on port {port} was not ready in {READY_TIMEOUT_SECONDS} s")


def service_gunicorn() -> list[str]:
    """gunicorn with the service's own configuration (workers, timeouts, limits, logs)."""
    return [str(BIN / "gunicorn"), "-c", "python:skills_service.gunicorn_conf"]


def fab_gunicorn() -> list[str]:
    """The Flask-AppBuilder reference's gunicorn, with the service's settings as flags.

    Its virtualenv cannot import the service's configuration module, so the settings
    that shape the load are given as flags: the same number of sync workers, timeouts
    and keep-alive, and no access log.
    """
    return [
        str(FAB_BIN / "gunicorn"),
        *("--workers", str(DEFAULT_WORKERS), "--worker-class", "sync"),
        *("--timeout", "30", "--graceful-timeout", "25", "--keep-alive", "5"),
    ]


def start_server(
    name: str,
    app: str,
    *,
    gunicorn: Sequence[str],
    ports: Sequence[int],
    ready_path: str,
    environ: Mapping[str, str],
    log: Path,
) -> Server:
    """Start ``gunicorn`` serving ``app``; ready when ``ready_path`` answers 200.

    Every instance binds with ``SO_REUSEPORT``, so a second one can share the first
    one's address (the kernel spreads connections over both); ``ports[1:]`` are the
    instance's own, to tell when it is ready.
    """
    command = [*gunicorn, "--reuse-port", "--pythonpath", str(BENCH_DIR)]
    for port in ports:
        command += ["--bind", f"{HOST}:{port}"]
    command.append(app)
    started = time.perf_counter()
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=dict(environ), stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(name, process, 0.0)
    try:
        wait_ready(process, ports[-1], ready_path)
    except BaseException:
        server.stop()
        raise
    server.ready_seconds = time.perf_counter() - started
    return server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def process_cpu_ticks() -> dict[int, tuple[str, int]]:
    """Every process's name and user+system CPU time so far, in clock ticks."""
    found: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))
    return found


def cpu_seconds_by_group(
    before: Mapping[int, tuple[str, int]],
    after: Mapping[int, tuple[str, int]],
    app_pids: Sequence[int],
) -> dict[str, float]:
    groups = {"app": 0, "postgres": 0, "redis": 0}
    for pid, (name, ticks) in after.items():
        spent = ticks - before.get(pid, (name, 0))[1]
        if pid in app_pids:
            groups["app"] += spent
        elif name == "postgres":
            groups["postgres"] += spent
        elif name.startswith("redis-server"):
            groups["redis"] += spent
    return {group: ticks / TICKS_PER_SECOND for group, ticks in groups.items()}


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    seconds: int
    warmup_seconds: int
    connections: int
    threads: int


def run_wrk(
    scenario: str,
    url: str,
    shape: Shape,
    *,
    seconds: int,
    app_pids: Sequence[int],
    headers: Sequence[str] = (),
    requests_file: Path | None = None,
) -> Load:
    command = ["wrk", f"-t{shape.threads}", f"-c{shape.connections}", f"-d{seconds}s"]
    command += ["--timeout", "10s", "-s", str(WRK_SCRIPT)]
    for header in headers:
        command += ["-H", header]
    command.append(url)
    if requests_file is not None:
        command += ["--", str(requests_file), str(shape.threads)]
    before = process_cpu_ticks()
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    cpu = cpu_seconds_by_group(before, process_cpu_ticks(), app_pids)
    report = next(
        json.loads(line.removeprefix("BENCH "))
        for line in finished.stdout.splitlines()
        if line.startswith("BENCH ")
    )
    requests = int(report["requests"])
    errors = sum(int(report[kind]) for kind in ("connect", "read", "write", "status", "timeout"))
    return Load(
        scenario=scenario,
        requests=requests,
        seconds=report["duration_us"] / 1e6,
        errors=errors,
        p50_ms=report["p50_us"] / 1000,
        p95_ms=report["p95_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        cpu_ms_per_request={group: 1000 * spent / max(requests, 1) for group, spent in cpu.items()},
    )


def measure(
    scenario: str,
    url: str,
    shape: Shape,
    *,
    app_pids: Sequence[int],
    headers: Sequence[str] = (),
    warmup_file: Path | None = None,
    requests_file: Path | None = None,
) -> Load:
    """A warm-up run that is not counted, then the measured run."""
    progress(f"{scenario}: {shape.warmup_seconds} s warm-up, {shape.seconds} s measured")
    run_wrk(
        scenario,
        url,
        shape,
        seconds=shape.warmup_seconds,
        app_pids=app_pids,
        headers=headers,
        requests_file=warmup_file or requests_file,
    )
    load = run_wrk(
        scenario,
        url,
        shape,
        seconds=shape.seconds,
        app_pids=app_pids,
        headers=headers,
        requests_file=requests_file,
    )
    progress(f"{scenario}: {load.per_second:,.0f} req/s, p99 {load.p99_ms:.1f} ms")
    return load


def write_requests(path: Path, lines: Sequence[tuple[str, str, str, str]]) -> Path:
    path.write_text("".join("\t".join(fields) + "\n" for fields in lines))
    return path


def search_requests(session: Session, seed: int) -> list[tuple[str, str, str, str]]:
    """Three ``skill >= level`` conditions on commonly held skills, as in search_gaps."""
    rng = random.Random(seed)
    common = list(describe(session).common_skills)
    lines = []
    for _ in range(SEARCH_URLS):
        query = [
            ("skill", f"{skill_id}:{rng.randint(*CONDITION_LEVELS)}")
            for skill_id in rng.sample(common, CONDITIONS)
        ]
        query.append(("limit", str(PAGE_SIZE)))
        lines.append(("GET", "/api/v1/people?" + urlencode(query), "-", "-"))
    return lines


def upsert_requests(session: Session, count: int) -> list[tuple[str, str, str, str]]:
    """Replace existing proficiencies, each once, with the ETag it has now.

    Every request changes the level, so each one writes a row, its history and its
    audit event; rows are spread over the whole table in a fixed order.
    """
    rows = session.execute(
        text(
            "SELECT person_id, skill_id, level, version FROM proficiency"
            " ORDER BY md5(person_id::text || ':' || skill_id::text) LIMIT :count"
        ),
        {"count": count},
    ).all()
    return [
        (
            "PUT",
            f"/api/v1/people/{person_id}/skills/{skill_id}",
            etag_for(version),
            json.dumps({"level": level % 5 + 1}),
        )
        for person_id, skill_id, level, version in rows
    ]


# -- the service ---------------------------------------------------------------------------


def service_environ(database_url: str, redis_url: str, scratch: Path) -> dict[str, str]:
    """Production settings; only the rate-limit budgets are raised (see the docstring)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("SKILLS_")}
    environ.pop("WEB_CONCURRENCY", None)
    metrics = scratch / "metrics"
    metrics.mkdir()
    environ.update(
        SKILLS_ENV="production",
        SKILLS_SECRET_KEY=secrets.token_urlsafe(48),
        SKILLS_DATABASE_URL=bench_url(database_url),
        SKILLS_REDIS_URL=redis_url,
        SKILLS_RATELIMIT_DEFAULT=UNCOUNTED_BUDGET,
        SKILLS_RATELIMIT_PER_ADDRESS=UNCOUNTED_BUDGET,
        SKILLS_INSTANCE_PATH=str(scratch / "instance"),
        SKILLS_METRICS_TOKEN=secrets.token_urlsafe(32),
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
    )
    return environ


def cli(environ: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    finished = subprocess.run(
        [str(BIN / "skills-service"), *args],
        env=dict(environ),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise SystemExit(f"skills-service {args[0]} failed: {finished.stderr.strip()}")
    return finished.stdout


@dataclass(frozen=True)
class Accounts:
    """An administrator with a read/write token, and a viewer for the dashboard.

    New ones on every run (the names carry a random part), so a reused database
    never holds a password from an earlier run.
    """

    token: str
    viewer_email: str
    viewer_password: str


def create_accounts(environ: Mapping[str, str]) -> Accounts:
    run_id = secrets.token_hex(4)
    admin, viewer = f"bench-admin-{run_id}@example.com", f"bench-viewer-{run_id}@example.com"
    password = secrets.token_urlsafe(24)
    for email, role in ((admin, "admin"), (viewer, "viewer")):
        cli(
            environ, "create-user", email, "--role", role, "--password-stdin", stdin=password + "\n"
        )
    issued = cli(
        environ,
        "token",
        "create",
        admin,
        "--scope",
        "read",
        "--scope",
        "write",
        "--expires-days",
        "1",
    )
    return Accounts(issued.strip().splitlines()[-1], viewer, password)


def cookies_from(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def cookie_header(cookies: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def dashboard_headers(port: int, email: str, password: str) -> list[str]:
    """Sign in as a browser would and load the dashboard; the headers its callbacks send."""
    origin = {"Origin": f"http://{HOST}:{port}", "Sec-Fetch-Site": "same-origin"}
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", "/login")
    page = connection.getresponse()
    cookies = cookies_from(page)
    match = CSRF_FIELD.search(page.read().decode())
    if match is None:
        raise SystemExit("no CSRF token on /login")
    form = urlencode({"email": email, "password": password, "csrf_token": match.group(1)})
    connection.request(
        "POST",
        "/login",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie_header(cookies),
            **origin,
        },
    )
    signed_in = connection.getresponse()
    signed_in.read()
    if signed_in.status != 302:
        raise SystemExit(f"signing in for the dashboard answered {signed_in.status}")
    cookies.update(cookies_from(signed_in))
    dashboard = get(port, "/dashboard/", {"Cookie": cookie_header(cookies)})
    cookies.update(cookies_from(dashboard))
    csrf = cookies[DASHBOARD_CSRF_COOKIE]
    return [
        f"Cookie: {cookie_header(cookies)}",
        f"X-CSRFToken: {csrf}",
        f"Origin: {origin['Origin']}",
        "Sec-Fetch-Site: same-origin",
        "Content-Type: application/json",
    ]


def callback_body() -> str:
    """The dashboard's main callback for the whole organisation, as the page sends it."""
    charts = ("levels", "top", "coverage", "trend")
    outputs = [{"id": name, "property": "figure"} for name in charts]
    outputs.append({"id": "team-charts", "property": "children"})
    return json.dumps(
        {
            "output": "..levels.figure...top.figure...coverage.figure...trend.figure"
            "...team-charts.children..",
            "outputs": outputs,
            "inputs": [
                {"id": "team", "property": "value", "value": None},
                {"id": "category", "property": "value", "value": None},
            ],
            "changedPropIds": ["team.value"],
            "state": [],
        }
    )


def post(port: int, path: str, body: str, headers: Sequence[str]) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    connection.request(
        "POST", path, body=body, headers=dict(header.split(": ", 1) for header in headers)
    )
    response = connection.getresponse()
    response.read()
    return response.status


def worker_memory_mb(pids: Sequence[int]) -> tuple[float, float]:
    """The largest peak (``VmHWM``) and current (``VmRSS``) resident sets among ``pids``, in MB.

    The peak includes short-lived allocations (a sign-in's argon2 hash takes 64 MiB while
    it runs); the current figure is what a worker holds once they are freed.
    """
    peaks, currents = [], []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
            elif line.startswith("VmRSS:"):
                currents.append(int(line.split()[1]) / 1024)
    return max(peaks), max(currents)


# -- the Flask-AppBuilder reference ------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """The Flask-AppBuilder app, started and signed in: the token wrk sends."""

    server: Server
    port: int
    token: str


def fab_available() -> bool:
    return (FAB_BIN / "gunicorn").exists()


def start_fab(database_url: str, port: int, log: Path) -> Reference:
    """Create Flask-AppBuilder's tables and an admin once, start it, sign in with its JWT login."""
    username, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("SKILLS_")}
    environ.update(
        BENCH_FAB_DATABASE_URL=bench_url(database_url),
        BENCH_FAB_SECRET_KEY=secrets.token_urlsafe(48),
        PYTHONPATH=str(BENCH_DIR),
    )
    with log.open("ab") as output:
        subprocess.run(
            [
                *(str(FAB_BIN / "flask"), "--app", "fab_app", "fab", "create-admin"),
                *("--username", username, "--firstname", "Bench", "--lastname", "Admin"),
                *("--email", f"{username}@example.com", "--password", password),
            ],
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
        )
    server = start_server(
        "Flask-AppBuilder",
        "fab_app:app",
        gunicorn=fab_gunicorn(),
        ports=[port],
        ready_path="/login/",
        environ={**environ, "FAB_UPDATE_PERMS": "false"},
        log=log,
    )
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    credentials = {"username": username, "password": password, "provider": "db"}
    connection.request(
        "POST",
        "/api/v1/security/login",
        body=json.dumps(credentials),
        headers={"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        server.stop()
        raise SystemExit(f"Flask-AppBuilder's login answered {response.status}")
    return Reference(server, port, str(json.loads(answer)["access_token"]))


# -- the run -------------------------------------------------------------------------------

HELLO = "bare Flask: GET /hello"
SAME_BODY = "bare Flask: the list's body"
FAB_LIST = "Flask-AppBuilder: list of 50"
FAB_ITEM = "Flask-AppBuilder: one skill"
HEALTHZ = "GET /healthz"
LIST = "GET /api/v1/skills?limit=50"
ITEM = "GET /api/v1/skills/{id}"
SEARCH = "people search, 3 conditions"
UPSERT = "proficiency upsert (PUT, If-Match)"
DASHBOARD = "dashboard main callback (org-wide)"
TWO_INSTANCES = "GET /api/v1/skills?limit=50, 2 instances"
COMPARISONS = (
    (LIST, SAME_BODY),
    (HEALTHZ, HELLO),
    (LIST, FAB_LIST),
    (ITEM, FAB_ITEM),
)
"""(skills-service, reference): each ratio of the report, measured in the same run."""


@dataclass(frozen=True)
class Report:
    loads: dict[str, Load]
    cold_start: dict[str, list[float]]
    worker_peak_mb: float
    worker_rss_after_mb: float
    workers: int
    people: int
    proficiencies: int
    shape: Shape
    body_bytes: int
    skipped: tuple[str, ...]

    def ratio(self, scenario: str, reference: str) -> float | None:
        if scenario not in self.loads or reference not in self.loads:
            return None
        return self.loads[scenario].per_second / self.loads[reference].per_second

    def cpu_ratio(self, scenario: str, reference: str) -> float | None:
        """The reference's app CPU per request over skills-service's: a ratio the host's
        other work moves less than it moves req/s."""
        if scenario not in self.loads or reference not in self.loads:
            return None
        own = self.loads[scenario].cpu_ms_per_request["app"]
        return self.loads[reference].cpu_ms_per_request["app"] / own if own else None

    def as_json(self) -> dict[str, object]:
        return {
            "loads": {
                name: {
                    "per_second": load.per_second,
                    "p50_ms": load.p50_ms,
                    "p95_ms": load.p95_ms,
                    "p99_ms": load.p99_ms,
                    "errors": load.errors,
                    "cpu_ms_per_request": dict(load.cpu_ms_per_request),
                }
                for name, load in self.loads.items()
            },
            "ratios": {
                f"{scenario} / {reference}": self.ratio(scenario, reference)
                for scenario, reference in COMPARISONS
            },
            "cpu_ratios": {
                f"{scenario} / {reference}": self.cpu_ratio(scenario, reference)
                for scenario, reference in COMPARISONS
            },
            "cold_start_s": {
                name: statistics.median(times) for name, times in self.cold_start.items()
            },
            "connections": self.shape.connections,
            "worker_peak_mb": self.worker_peak_mb,
            "worker_rss_after_mb": self.worker_rss_after_mb,
            "skipped": list(self.skipped),
        }


def cold_starts(
    name: str,
    app: str,
    *,
    starts: int,
    ports: Sequence[int],
    ready_path: str,
    environ: Mapping[str, str],
    log: Path,
) -> tuple[Server, list[float]]:
    """Start ``starts`` times; all but the last are stopped again. Returns the last."""
    seconds = []
    for attempt in range(starts):
        server = start_server(
            name,
            app,
            gunicorn=service_gunicorn(),
            ports=ports,
            ready_path=ready_path,
            environ=environ,
            log=log,
        )
        seconds.append(server.ready_seconds)
        progress(f"{name}: ready in {server.ready_seconds:.2f} s")
        if attempt < starts - 1:
            server.stop()
    return server, seconds


def the_list(port: int, bearer: Sequence[str]) -> tuple[bytes, int]:
    """The list's body as skills-service answers it, and the id of its first skill."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = dict(header.split(": ", 1) for header in bearer)
    connection.request("GET", "/api/v1/skills?limit=50", headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"the list answered {response.status}")
    return body, int(json.loads(body)["items"][0]["id"])


def run(args: argparse.Namespace) -> Report:
    shape = Shape(args.seconds, args.warmup_seconds, args.connections, args.threads)
    if not args.reuse_data:
        generate(args.database_url, people=args.people)
    engine = make_engine(bench_url(args.database_url))
    RESULTS_DIR.mkdir(exist_ok=True)
    loads: dict[str, Load] = {}
    skipped: list[str] = []
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="http-bench-")))
        stack.callback(engine.dispose)
        environ = service_environ(args.database_url, args.redis_url, scratch)
        log = RESULTS_DIR / "http_load.log"
        log.unlink(missing_ok=True)
        accounts = create_accounts(environ)
        with Session(engine) as session:
            dataset = describe(session)
            searches = write_requests(scratch / "search.tsv", search_requests(session, args.seed))
            upserts = upsert_requests(session, 2 * UPSERTS)
        half = len(upserts) // 2
        upsert_warmup = write_requests(scratch / "upsert-warmup.tsv", upserts[:half])
        upsert_measured = write_requests(scratch / "upsert.tsv", upserts[half:])
        callback = write_requests(
            scratch / "callback.tsv", [("POST", CALLBACK, "-", callback_body())]
        )
        bearer = [f"Authorization: Bearer {accounts.token}"]

        service_port, second_port = free_port(), free_port()
        cold: dict[str, list[float]] = {}
        service, cold["skills-service"] = cold_starts(
            "skills-service",
            "skills_service.wsgi:app",
            starts=args.starts,
            ports=[service_port],
            ready_path="/readyz",
            environ=environ,
            log=log,
        )
        stack.callback(service.stop)
        body, skill_id = the_list(service_port, bearer)
        (scratch / "list.json").write_bytes(body)

        baseline_port = free_port()
        baseline, cold["baseline"] = cold_starts(
            "baseline",
            "baseline_app:app",
            starts=args.starts,
            ports=[baseline_port],
            ready_path="/hello",
            environ={**environ, SAME_BODY_ENV: str(scratch / "list.json")},
            log=log,
        )
        stack.callback(baseline.stop)
        bare = f"http://{HOST}:{baseline_port}"
        for name, path in ((HELLO, "/hello"), (SAME_BODY, "/api/v1/skills?limit=50")):
            loads[name] = measure(name, bare + path, shape, app_pids=baseline.workers())
        baseline.stop()

        if fab_available():
            fab = start_fab(args.database_url, free_port(), log)
            stack.callback(fab.server.stop)
            fab_base = f"http://{HOST}:{fab.port}"
            fab_bearer = [f"Authorization: Bearer {fab.token}"]
            fab_paths = ((FAB_LIST, "/api/v1/skill/"), (FAB_ITEM, f"/api/v1/skill/{skill_id}"))
            for name, path in fab_paths:
                loads[name] = measure(
                    name, fab_base + path, shape, app_pids=fab.server.workers(), headers=fab_bearer
                )
            fab.server.stop()
        else:
            skipped += [FAB_LIST, FAB_ITEM]
            progress(f"SKIPPED the Flask-AppBuilder reference: no {FAB_BIN} (make bench-packages)")

        app_pids = service.workers()
        base = f"http://{HOST}:{service_port}"
        loads[HEALTHZ] = measure(HEALTHZ, f"{base}/healthz", shape, app_pids=app_pids)
        for name, path in ((LIST, "/api/v1/skills?limit=50"), (ITEM, f"/api/v1/skills/{skill_id}")):
            loads[name] = measure(name, base + path, shape, app_pids=app_pids, headers=bearer)
        loads[SEARCH] = measure(
            SEARCH, base, shape, app_pids=app_pids, headers=bearer, requests_file=searches
        )
        loads[UPSERT] = measure(
            UPSERT,
            base,
            shape,
            app_pids=app_pids,
            headers=[*bearer, "Content-Type: application/json"],
            warmup_file=upsert_warmup,
            requests_file=upsert_measured,
        )
        dashboard = dashboard_headers(service_port, accounts.viewer_email, accounts.viewer_password)
        status = post(service_port, CALLBACK, callback_body(), dashboard)
        if status != 200:
            raise SystemExit(f"the dashboard callback answered {status}")
        loads[DASHBOARD] = measure(
            DASHBOARD, base, shape, app_pids=app_pids, headers=dashboard, requests_file=callback
        )
        worker_peak, worker_after = worker_memory_mb(app_pids)

        progress("a second instance on the same address")
        second = start_server(
            "skills-service (2nd)",
            "skills_service.wsgi:app",
            gunicorn=service_gunicorn(),
            ports=[service_port, second_port],
            ready_path="/readyz",
            environ=environ,
            log=log,
        )
        stack.callback(second.stop)
        loads[TWO_INSTANCES] = measure(
            TWO_INSTANCES,
            f"{base}/api/v1/skills?limit=50",
            shape,
            app_pids=app_pids + second.workers(),
            headers=bearer,
        )
    return Report(
        loads=loads,
        cold_start=cold,
        worker_peak_mb=worker_peak,
        worker_rss_after_mb=worker_after,
        workers=len(app_pids),
        people=dataset.people,
        proficiencies=dataset.proficiencies,
        shape=shape,
        body_bytes=len(body),
        skipped=tuple(skipped),
    )


# -- the table -----------------------------------------------------------------------------


def render(report: Report) -> str:
    shape = report.shape
    lines = [
        "## HTTP: skills-service against a bare Flask app and Flask-AppBuilder",
        "",
        f"{report.people:,} people, {report.proficiencies:,} proficiencies (PostgreSQL). "
        f"{report.workers} sync gunicorn workers each (skills-service's and the bare app's "
        "from `skills_service.gunicorn_conf`, Flask-AppBuilder's the same as flags); "
        f"wrk -t{shape.threads} -c{shape.connections} -d{shape.seconds}s after "
        f"{shape.warmup_seconds} s of warm-up. The bare app's list answers the same "
        f"{report.body_bytes:,} bytes skills-service answered. CPU is user + system time "
        "per request.",
        "",
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| app CPU ms | PostgreSQL CPU ms | Redis CPU ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, load in report.loads.items():
        cpu = load.cpu_ms_per_request
        lines.append(
            f"| {name} | {load.per_second:,.0f} "
            f"| {load.p50_ms:.1f} | {load.p95_ms:.1f} | {load.p99_ms:.1f} | {load.errors} "
            f"| {cpu['app']:.2f} | {cpu['postgres']:.2f} | {cpu['redis']:.2f} |"
        )
    lines += [*(f"| {name} | skipped |" for name in report.skipped)]
    lines += [
        "",
        "| skills-service against a reference | ratio of req/s "
        "| reference's app CPU per request ÷ skills-service's |",
        "| --- | ---: | ---: |",
    ]
    for scenario, reference in COMPARISONS:
        shown = [
            "skipped" if ratio is None else f"× {ratio:.2f}"
            for ratio in (report.ratio(scenario, reference), report.cpu_ratio(scenario, reference))
        ]
        lines.append(f"| {scenario} against {reference} | {shown[0]} | {shown[1]} |")
    one, two = report.loads[LIST], report.loads[TWO_INSTANCES]
    lines += [
        "",
        "| measure | value |",
        "| --- | --- |",
        *(
            f"| cold start to ready, {name} (median of {len(times)}) "
            f"| {statistics.median(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)}) |"
            for name, times in report.cold_start.items()
        ),
        f"| peak RSS of the largest skills-service worker | {report.worker_peak_mb:.0f} MB |",
        "| RSS of the largest skills-service worker after the run | "
        f"{report.worker_rss_after_mb:.0f} MB |",
        f"| list endpoint, 1 instance | {one.per_second:,.0f} req/s, p99 {one.p99_ms:.1f} ms |",
        f"| list endpoint, 2 instances on one address | {two.per_second:,.0f} req/s "
        f"(× {two.per_second / one.per_second:.2f}), p99 {two.p99_ms:.1f} ms, "
        f"{two.errors} errors |",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(URL_ENV),
        help=f"PostgreSQL URL; only the schema skills_bench is written (default: ${URL_ENV})",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="time the data a previous run left, instead of generating it",
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup-seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time")
    parser.add_argument("--seed", type=int, default=20_261_123)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error(f"give a PostgreSQL --database-url or set {URL_ENV}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian package wrk; `make bench` installs it)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress(f"database {redacted(bench_url(args.database_url))}, workers {DEFAULT_WORKERS}")
    report = run(args)
    print(render(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
