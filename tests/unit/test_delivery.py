"""The delivery artefacts keep their security properties: Dockerfile, compose, Kubernetes.

Each is read as written and checked without Docker or a cluster; the gunicorn
configuration and the dependency audit are run for real.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from skills_service import cli, gunicorn_conf
from skills_service.security import limits

ROOT = Path(__file__).resolve().parents[2]
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
K8S_PRODUCTION = ROOT / "deploy" / "k8s" / "overlays" / "production"
BASE_IMAGE = re.compile(r"^python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}$")


# Dockerfile


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), grouped by stage."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines()))
    stages: list[list[tuple[str, str]]] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        elif not stages:
            continue
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def test_the_image_is_built_in_stages_from_one_base_pinned_by_version_and_digest() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    bases = {stage[0][1].split()[0] for stage in stages}
    assert len(bases) == 1
    assert BASE_IMAGE.match(bases.pop())


def test_the_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [arguments for keyword, arguments in dockerfile_stages()[-1] if keyword == "USER"]
    assert users, "the final stage has no USER"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) >= 10000
    assert not group or (group.isdigit() and int(group) != 0)


def test_the_healthcheck_asks_healthz_with_python_not_a_tool_the_image_lacks() -> None:
    checks = [
        arguments for keyword, arguments in dockerfile_stages()[-1] if keyword == "HEALTHCHECK"
    ]
    assert len(checks) == 1
    command = json.loads(checks[0].split("CMD", 1)[1])
    assert command[0] == "python"
    assert "/healthz" in command[-1]
    assert not re.search(r"\b(curl|wget)\b", checks[0])


def test_dependencies_are_installed_only_from_the_hashed_lock() -> None:
    build = " ".join(arguments for keyword, arguments in dockerfile_stages()[0] if keyword == "RUN")
    assert "--require-hashes" in build
    assert "requirements/runtime.txt" in build
    assert "--no-index --no-deps" in build


def test_the_final_stage_serves_with_gunicorn_through_the_cli() -> None:
    final = dict(dockerfile_stages()[-1])
    assert json.loads(final["ENTRYPOINT"]) == ["skills-service"]
    assert json.loads(final["CMD"])[0] == "serve"


def test_the_build_context_admits_only_what_the_image_is_built_from() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    admitted = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    assert admitted <= {
        "pyproject.toml",
        "README.md",
        "requirements/build.txt",
        "requirements/pip.txt",
        "requirements/runtime.txt",
        "src/",
    }


# compose.yaml


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return document


COMPOSE_SERVICES = sorted(compose()["services"])


@pytest.mark.parametrize("name", COMPOSE_SERVICES)
def test_every_compose_service_is_confined(name: str) -> None:
    service = compose()["services"][name]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["mem_limit"] and service["pids_limit"] > 0
    assert not service.get("privileged", False)
    user = str(service["user"]).split(":")
    assert all(part.isdigit() and int(part) != 0 for part in user)


@pytest.mark.parametrize("name", COMPOSE_SERVICES)
def test_compose_publishes_ports_on_loopback_only(name: str) -> None:
    for port in compose()["services"][name].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port


def test_the_databases_sit_on_the_internal_backend_network_alone() -> None:
    document = compose()
    assert document["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis", "redis-cache", "migrate"):
        assert document["services"][name]["networks"] == ["backend"]
        assert "ports" not in document["services"][name]


def test_compose_starts_the_app_only_after_healthy_stores_and_a_finished_migration() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("app", "python"),
        ("proxy", "python"),
        ("postgres", "pg_isready"),
        ("redis", "redis-cli"),
        ("redis-cache", "redis-cli"),
    ],
)
def test_compose_health_checks_use_each_images_own_tools(name: str, probe: str) -> None:
    test = compose()["services"][name]["healthcheck"]["test"]
    assert probe in " ".join(test)


def test_sessions_redis_never_evicts_and_the_cache_redis_is_a_bounded_lru() -> None:
    services = compose()["services"]
    sessions, cache = services["redis"]["command"], services["redis-cache"]["command"]
    assert sessions[sessions.index("--maxmemory-policy") + 1] == "noeviction"
    assert cache[cache.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert cache[cache.index("--maxmemory") + 1]
    app = services["app"]["environment"]
    assert app["SKILLS_CACHE_REDIS_URL_FILE"] == "/run/secrets/cache_redis_url"


def test_the_app_is_published_only_through_the_buffering_proxy_it_trusts() -> None:
    services = compose()["services"]
    proxy = services["proxy"]
    assert "ports" not in services["app"]
    assert [str(port).rsplit(":", 1)[1] for port in proxy["ports"]] == ["8080"]
    assert proxy["build"]["context"] == "deploy/nginx"
    assert proxy["depends_on"] == {"app": {"condition": "service_healthy"}}
    address = proxy["networks"]["frontend"]["ipv4_address"]
    trusted = services["app"]["environment"]["SKILLS_TRUSTED_PROXIES"]
    assert trusted == f"${{SKILLS_TRUSTED_PROXIES:-{address}/32}}"
    config = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    assert "server app:8000;" in config and "listen 8080;" in config
    assert "COPY nginx.conf /etc/nginx/nginx.conf" in (
        ROOT / "deploy" / "nginx" / "Dockerfile"
    ).read_text(encoding="utf-8")


def test_compose_secrets_are_files_that_git_ignores() -> None:
    document = compose()
    files = [Path(secret["file"]) for secret in document["secrets"].values()]
    assert files and all(file.parent == Path("deploy/compose/secrets") for file in files)
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/deploy/compose/secrets/" in ignored
    for service in document["services"].values():
        secret_variables = [
            key
            for key in service.get("environment", {})
            if re.search(r"SECRET|PASSWORD|TOKEN|_URL$", key) and not key.endswith("_FILE")
        ]
        assert secret_variables == [] or secret_variables == ["SKILLS_OIDC_ISSUER"]


def test_the_example_env_file_documents_every_variable_compose_reads() -> None:
    interpolated = set(
        re.findall(r"\$\{(\w+)", (ROOT / "compose.yaml").read_text(encoding="utf-8"))
    )
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert interpolated <= documented


# Kubernetes


def k8s_documents(directory: Path) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        documents += [
            document
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
            if document and document.get("kind") != "Kustomization"
        ]
    return documents


def k8s_resource(kind: str, name: str) -> dict[str, Any]:
    matches = [
        document
        for document in k8s_documents(K8S_BASE)
        if document["kind"] == kind and document["metadata"]["name"] == name
    ]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


WORKLOADS = [("Deployment", "skills-service"), ("Job", "skills-service-migrate")]


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = k8s_resource(kind, name)["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_workloads_run_unprivileged_on_a_read_only_root(kind: str, name: str) -> None:
    spec = pod_spec(kind, name)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] >= 10000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert set(container["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_workloads_write_only_to_a_tmp_volume_and_read_secrets_as_files(
    kind: str, name: str
) -> None:
    spec = pod_spec(kind, name)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    (container,) = spec["containers"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108 (a mount path, not a file)
    secret_mount = next(path for path, volume in mounts.items() if "secret" in volumes[volume])
    for variable in container["env"]:
        assert "valueFrom" not in variable
        assert variable["name"].endswith("_FILE")
        assert variable["value"].startswith(secret_mount + "/")


def test_the_deployment_reaches_a_redis_of_its_own_for_the_chart_cache() -> None:
    (container,) = pod_spec("Deployment", "skills-service")["containers"]
    assert "SKILLS_CACHE_REDIS_URL_FILE" in {variable["name"] for variable in container["env"]}
    (rule,) = k8s_resource("NetworkPolicy", "allow-redis")["spec"]["egress"]
    names = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["to"]}
    assert names == {"redis", "redis-cache"}


def test_the_deployment_has_startup_liveness_and_readiness_probes() -> None:
    (container,) = pod_spec("Deployment", "skills-service")["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_migration_job_runs_db_upgrade_with_the_same_image() -> None:
    (job,) = pod_spec("Job", "skills-service-migrate")["containers"]
    (web,) = pod_spec("Deployment", "skills-service")["containers"]
    assert job["args"] == ["db", "upgrade"]
    assert job["image"] == web["image"]


def test_the_service_account_carries_no_token() -> None:
    account = k8s_resource("ServiceAccount", "skills-service")
    assert account["automountServiceAccountToken"] is False


def test_network_policies_deny_everything_by_default() -> None:
    deny = k8s_resource("NetworkPolicy", "default-deny-all")["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny


def test_network_policies_allow_only_the_named_ports() -> None:
    policies = [doc for doc in k8s_documents(K8S_BASE) if doc["kind"] == "NetworkPolicy"]
    ingress = {
        p["port"] for doc in policies for r in doc["spec"].get("ingress", []) for p in r["ports"]
    }
    egress = {
        p["port"] for doc in policies for r in doc["spec"].get("egress", []) for p in r["ports"]
    }
    assert ingress == {8000}
    assert egress == {53, 443, 5432, 6379}
    for doc in policies:
        for rule in doc["spec"].get("ingress", []) + doc["spec"].get("egress", []):
            assert rule.get("from", rule.get("to")), f"{doc['metadata']['name']} allows anyone"


def test_the_ingress_terminates_tls_and_sends_hsts() -> None:
    ingress = k8s_resource("Ingress", "skills-service")
    assert ingress["spec"]["tls"][0]["secretName"]
    headers_ref = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/custom-headers"]
    headers = k8s_resource("ConfigMap", headers_ref.split("/")[1])
    assert "max-age=" in headers["data"]["Strict-Transport-Security"]


def test_the_autoscaler_and_disruption_budget_keep_replicas() -> None:
    assert k8s_resource("HorizontalPodAutoscaler", "skills-service")["apiVersion"] == (
        "autoscaling/v2"
    )
    assert k8s_resource("PodDisruptionBudget", "skills-service")["spec"]["minAvailable"] >= 1


def test_no_secret_is_part_of_the_manifests() -> None:
    documents = k8s_documents(K8S_BASE) + k8s_documents(K8S_PRODUCTION)
    assert not [doc for doc in documents if doc["kind"] == "Secret"]


def test_the_production_overlay_pins_the_image_by_tag() -> None:
    kustomization = yaml.safe_load((K8S_PRODUCTION / "kustomization.yaml").read_text("utf-8"))
    (image,) = kustomization["images"]
    assert image["name"] == "skills-service"
    assert re.fullmatch(r"\d+\.\d+\.\d+", image["newTag"])


# No secret values anywhere in the delivery files

CREDENTIAL_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bsks_[A-Za-z0-9_-]{8,}"),
    # Credentials in a URL, other than a placeholder such as "...".
    re.compile(r"://[\w.+-]+:(?!\.\.\.@)[^@\s${}]+@"),
    # A setting named like a secret with a literal value (not a file path, not empty).
    re.compile(
        r"(?i)^\s*-?\s*[\w.-]*(password|secret|secret_key|token)['\"]?\s*[:=]\s*['\"]?(?!(true|false)\b)[^\s'\"/$#]"
    ),
]


def delivery_files() -> Iterator[Path]:
    yield from (ROOT / name for name in ("Dockerfile", "compose.yaml", ".env.example"))
    yield from (path for path in (ROOT / "deploy").rglob("*") if path.is_file())


@pytest.mark.parametrize("path", sorted(delivery_files()), ids=lambda path: path.name)
def test_no_delivery_file_holds_a_credential(path: Path) -> None:
    if path.parent.name == "secrets" or path.suffix == ".pyc":
        pytest.skip("made locally by make compose-secrets, git-ignored")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for pattern in CREDENTIAL_PATTERNS:
            assert not pattern.search(line), f"{path.name}:{number}: {line.strip()}"


# gunicorn


@pytest.fixture
def fresh_gunicorn_conf(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delitem(sys.modules, "skills_service.gunicorn_conf", raising=False)
    yield
    sys.modules["skills_service.gunicorn_conf"] = gunicorn_conf


def load_gunicorn_config() -> Any:
    from gunicorn.app.base import Application

    class ConfigOnly(Application):  # type: ignore[misc]
        def init(self, parser: Any, opts: Any, args: Any) -> None:
            return None

        def load(self) -> None:
            return None

        def load_config(self) -> None:
            self.load_config_from_module_name_or_filename("python:skills_service.gunicorn_conf")

    return ConfigOnly().cfg


def test_gunicorn_takes_the_worker_count_from_web_concurrency(
    monkeypatch: pytest.MonkeyPatch, fresh_gunicorn_conf: None
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    config = load_gunicorn_config()
    assert config.workers == 5
    assert config.control_socket_disable is True
    assert config.timeout == 30
    assert config.graceful_timeout < 30


def test_gunicorns_request_limits_are_above_the_apps(fresh_gunicorn_conf: None) -> None:
    """So that the app, not gunicorn, refuses an over-long query string or header."""
    config = load_gunicorn_config()
    request_line = len("OPTIONS /?") + limits.MAX_QUERY_STRING_BYTES + len(" HTTP/1.1")
    assert config.limit_request_line > request_line
    assert config.limit_request_field_size > limits.MAX_HEADER_FIELD_BYTES
    assert config.limit_request_fields > limits.MAX_HEADER_FIELDS


def test_gunicorn_defaults_to_two_workers(
    monkeypatch: pytest.MonkeyPatch, fresh_gunicorn_conf: None
) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert load_gunicorn_config().workers == gunicorn_conf.DEFAULT_WORKERS == 2


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_nonsensical_web_concurrency_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="WEB_CONCURRENCY"):
        gunicorn_conf.workers_from({"WEB_CONCURRENCY": value})


def test_gunicorn_logs_through_the_applications_json_formatter() -> None:
    from skills_service.observability.logging import JsonFormatter

    formatter = gunicorn_conf.logconfig_dict["formatters"]["json"]["()"]
    module, _, name = formatter.rpartition(".")
    assert getattr(importlib.import_module(module), name) is JsonFormatter
    assert gunicorn_conf.accesslog is None


def test_a_dead_workers_live_gauges_are_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=4242))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db"]


def test_gunicorn_starts_with_an_empty_metrics_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    gunicorn_conf.on_starting(None)
    (directory / "counter_1.db").write_bytes(b"")
    gunicorn_conf.on_starting(None)
    assert list(directory.iterdir()) == []


def serve_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> list[str]:
    executed: list[list[str]] = []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("SKILLS_SECRET_KEY", "s" * 48)
    monkeypatch.setattr(cli.os, "execv", lambda path, argv: executed.append(argv))
    result = CliRunner().invoke(cli.cli, ["serve", *args])
    assert result.exit_code == 0, result.output
    return executed[0]


def test_serve_runs_gunicorn_with_the_shared_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = serve_command(monkeypatch, tmp_path, "--host", "192.0.2.7", "--port", "8001")
    assert argv[argv.index("--config") + 1] == "python:skills_service.gunicorn_conf"
    assert argv[argv.index("--bind") + 1] == "192.0.2.7:8001"
    assert "--workers" not in argv
    assert argv[-1] == "skills_service.wsgi:app"


def test_serve_workers_overrides_web_concurrency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = serve_command(monkeypatch, tmp_path, "--workers", "3")
    assert argv[argv.index("--workers") + 1] == "3"


# The dependency audit


def dependency_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dependency_audit", ROOT / "scripts" / "dependency_audit.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeOsv(BaseHTTPRequestHandler):
    """Answers every OSV query with one advisory that no release has fixed."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        query = json.loads(self.rfile.read(length))
        name = query["package"]["name"]
        advisory = {
            "id": "PYSEC-0000-0001",
            "summary": "a test advisory",
            "details": "",
            "aliases": [],
            "affected": [
                {
                    "package": {"name": name, "ecosystem": "PyPI"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                }
            ],
        }
        body = json.dumps({"vulns": [advisory]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def fake_osv() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def one_locked_requirement(tmp_path: Path) -> Path:
    lock = (ROOT / "requirements" / "runtime.txt").read_text(encoding="utf-8")
    entry = re.search(r"^itsdangerous==.*?(?=^\s*#)", lock, flags=re.MULTILINE | re.DOTALL)
    assert entry is not None
    path = tmp_path / "requirements.txt"
    path.write_text(entry.group(0), encoding="utf-8")
    return path


def test_the_audit_says_it_did_not_run_when_no_advisory_service_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = "http://127.0.0.1:9"
    code = dependency_audit().main(
        [
            "--osv-url",
            f"{closed}/v1/query",
            "--pypi-url",
            f"{closed}/pypi",
            str(one_locked_requirement(tmp_path)),
        ]
    )
    assert code == 0
    assert "DID NOT RUN" in capsys.readouterr().err


def test_the_audit_fails_on_a_known_vulnerability(tmp_path: Path, fake_osv: str) -> None:
    code = dependency_audit().main(["--osv-url", fake_osv, str(one_locked_requirement(tmp_path))])
    assert code == 1
