"""``skills-service harden``: every rule finds what it should, ``--write`` fixes safely."""

from __future__ import annotations

import ipaddress
import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from skills_service import harden
from skills_service.cli import cli
from skills_service.harden import compose, daemon, dockerfile, ports
from skills_service.harden.files import Kind, kind_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "harden"
DOCS = Path(__file__).parents[2] / "docs" / "harden.md"
KINDS = {"compose.yaml": compose, "Dockerfile": dockerfile, "daemon.json": daemon}


def rules_in(findings: list[harden.Finding]) -> set[str]:
    return {finding.rule for finding in findings}


def compose_text(service: str, *, extra: str = "") -> str:
    """A compose file with one service ``app``: ``service`` holds its keys."""
    body = textwrap.indent(textwrap.dedent(service), "    ")
    return f"services:\n  app:\n{body}\n{extra}"


def dockerfile_text(body: str) -> str:
    return textwrap.dedent(body).lstrip()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["harden", *args])


def copy_fixture(tmp_path: Path, variant: str, name: str) -> Path:
    target = tmp_path / name
    target.write_bytes((FIXTURES / variant / name).read_bytes())
    return target


# The fixtures: one with every problem per kind, one with none


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_weak_fixture_breaks_every_rule_of_its_kind(name: str) -> None:
    findings = KINDS[name].audit((FIXTURES / "weak" / name).read_text())
    expected = set(KINDS[name].RULES)
    if name == "Dockerfile":
        # The fixture has a health check (with a missing tool); its absence is tested apart.
        expected.discard(dockerfile.HEALTHCHECK)
    assert rules_in(findings) == expected


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_hardened_fixture_has_no_findings(name: str) -> None:
    assert KINDS[name].audit((FIXTURES / "hardened" / name).read_text()) == []


def test_every_finding_of_the_weak_compose_file_names_its_line() -> None:
    findings = compose.audit((FIXTURES / "weak" / "compose.yaml").read_text())
    assert all(finding.line is not None for finding in findings)
    assert [finding.line for finding in findings] == sorted(f.line or 0 for f in findings)


def test_each_published_port_of_the_weak_compose_file_is_a_finding() -> None:
    findings = compose.audit((FIXTURES / "weak" / "compose.yaml").read_text())
    ports_found = [finding for finding in findings if finding.rule == compose.PORTS]
    assert [finding.where for finding in ports_found] == [
        f"services.app.ports[{index}]" for index in range(5)
    ]
    assert all(finding.fixable for finding in ports_found)


# Port bindings


@pytest.mark.parametrize(
    ("spec", "exposure"),
    [
        ("15000:5000", ports.Exposure.EVERY_INTERFACE),
        ("5000", ports.Exposure.EVERY_INTERFACE),
        ("0.0.0.0:80:80", ports.Exposure.EVERY_INTERFACE),
        ("[::]:80:80", ports.Exposure.EVERY_INTERFACE),
        (":::80:80", ports.Exposure.EVERY_INTERFACE),
        (":8080:80", ports.Exposure.EVERY_INTERFACE),
        ("8000-8010:8000-8010", ports.Exposure.EVERY_INTERFACE),
        ("6060:6060/udp", ports.Exposure.EVERY_INTERFACE),
        ("127.0.0.1:8000:8000", ports.Exposure.LOOPBACK),
        ("127.0.0.1::5000", ports.Exposure.LOOPBACK),
        ("127.0.0.1:53:53/udp", ports.Exposure.LOOPBACK),
        ("[::1]:6001:6001", ports.Exposure.LOOPBACK),
        ("::1:6000:6000", ports.Exposure.LOOPBACK),
        ("127.0.0.1:${SKILLS_PORT:-8000}:8000", ports.Exposure.LOOPBACK),
        ("192.168.1.10:80:80", ports.Exposure.OTHER_ADDRESS),
        ("${BIND_ADDRESS:-0.0.0.0}:80:80", ports.Exposure.UNKNOWN),
        ("${APP_PORTS}", ports.Exposure.UNKNOWN),
        ("localhost:80:80", ports.Exposure.UNKNOWN),
    ],
)
def test_a_port_binding_is_classified_as_docker_binds_it(
    spec: str, exposure: ports.Exposure
) -> None:
    assert ports.parse(spec).exposure is exposure


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("5000", ports.PortSpec(None, None, "5000")),
        ("15000:5000", ports.PortSpec(None, "15000", "5000")),
        ("[::]:80:80/tcp", ports.PortSpec("::", "80", "80", "tcp")),
        ("::1:6000:6000", ports.PortSpec("::1", "6000", "6000")),
        ("127.0.0.1:${PORT:-8000}:8000", ports.PortSpec("127.0.0.1", "${PORT:-8000}", "8000")),
    ],
)
def test_a_port_binding_is_split_into_address_host_port_and_container_port(
    spec: str, parsed: ports.PortSpec
) -> None:
    assert ports.parse(spec) == parsed


@pytest.mark.parametrize("spec", ["8000:", "", "ALL", "/var/run/docker.sock:/x", "80:80/http"])
def test_a_text_that_is_not_a_port_binding_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"port mapping|protocol"):
        ports.parse(spec)


def test_a_malformed_port_is_found_and_left_to_a_person() -> None:
    findings = compose.audit(compose_text('ports: ["web:80"]'))
    assert [(f.rule, f.fixable) for f in findings if f.rule == compose.PORTS] == [
        (compose.PORTS, False)
    ]


@pytest.mark.parametrize(
    ("spec", "rewritten"),
    [
        ("15000:5000", "127.0.0.1:15000:5000"),
        ("5000", "127.0.0.1::5000"),
        ("[::]:8080:80", "127.0.0.1:8080:80"),
        ("0.0.0.0:53:53/udp", "127.0.0.1:53:53/udp"),
        ("${HOST_PORT:-80}:80", "127.0.0.1:${HOST_PORT:-80}:80"),
    ],
)
def test_a_port_bound_to_loopback_keeps_its_ports_and_protocol(spec: str, rewritten: str) -> None:
    assert str(ports.parse(spec).on_loopback()) == rewritten


port_numbers = st.integers(1, 65535).map(str)
host_addresses = st.one_of(
    st.none(),
    st.just(""),
    st.ip_addresses().map(str),
)


@given(
    host_ip=host_addresses,
    host_port=st.one_of(st.none(), st.just(""), port_numbers),
    container_port=port_numbers,
    protocol=st.sampled_from([None, "tcp", "udp", "sctp"]),
)
def test_formatting_then_parsing_a_port_binding_gives_it_back(
    host_ip: str | None, host_port: str | None, container_port: str, protocol: str | None
) -> None:
    if host_ip is not None and host_port is None:
        host_port = ""
    spec = ports.PortSpec(host_ip, host_port, container_port, protocol)
    assert ports.parse(str(spec)) == spec


@given(
    host_ip=host_addresses,
    host_port=st.one_of(st.none(), port_numbers),
    container_port=port_numbers,
)
def test_a_port_binding_published_beyond_loopback_is_never_classified_as_loopback(
    host_ip: str | None, host_port: str | None, container_port: str
) -> None:
    text = ":".join(
        part
        for part in (
            None if host_ip is None else (f"[{host_ip}]" if ":" in host_ip else host_ip),
            host_port if host_port is not None or host_ip is None else "",
            container_port,
        )
        if part is not None
    )
    exposure = ports.parse(text).exposure
    loopback = bool(host_ip) and ipaddress.ip_address(str(host_ip)).is_loopback
    assert (exposure is ports.Exposure.LOOPBACK) == loopback
    assert ports.parse(text).on_loopback().exposure is ports.Exposure.LOOPBACK


# Compose: the tricky cases one by one


@pytest.mark.parametrize(
    ("service", "fixable"),
    [
        ('ports: ["15000:5000"]', True),
        ('ports: ["0.0.0.0:80:80"]', True),
        ('ports: ["[::]:80:80"]', True),
        ('ports: ["5000"]', True),
        ("ports: [5000]", True),
        ("ports:\n  - target: 80\n    published: 8080", True),
        ("ports:\n  - target: 80\n    published: 8080\n    host_ip: 0.0.0.0", True),
        ('ports: ["10.0.0.5:80:80"]', False),
        ('ports: ["${BIND:-0.0.0.0}:80:80"]', False),
    ],
)
def test_a_port_published_beyond_loopback_is_found(service: str, fixable: bool) -> None:
    findings = [f for f in compose.audit(compose_text(service)) if f.rule == compose.PORTS]
    assert [finding.fixable for finding in findings] == [fixable]


@pytest.mark.parametrize(
    "service",
    [
        'ports: ["127.0.0.1:8000:8000"]',
        'ports: ["[::1]:8000:8000"]',
        "ports:\n  - target: 80\n    published: 8080\n    host_ip: 127.0.0.1",
        "expose: ['8000']",
    ],
)
def test_a_port_on_loopback_or_merely_exposed_is_accepted(service: str) -> None:
    assert compose.PORTS not in rules_in(compose.audit(compose_text(service)))


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root", "'0:1000'"])
def test_a_service_running_as_root_is_found_by_name_or_number(user: str) -> None:
    findings = compose.audit(compose_text(f"user: {user}"))
    assert compose.ROOT_USER in rules_in(findings)


@pytest.mark.parametrize("user", ['"10001:10001"', "app", "'1000'", '"${UID}:${GID}"'])
def test_a_non_root_or_unknowable_user_is_accepted(user: str) -> None:
    assert compose.ROOT_USER not in rules_in(compose.audit(compose_text(f"user: {user}")))


def test_a_service_without_user_is_left_to_its_image() -> None:
    assert compose.ROOT_USER not in rules_in(compose.audit(compose_text("image: x:1")))


@pytest.mark.parametrize(
    "volume",
    [
        "- /var/run/docker.sock:/var/run/docker.sock",
        "- /run/docker.sock:/var/run/docker.sock:ro",
        "- type: bind\n  source: /var/run/docker.sock\n  target: /docker.sock",
    ],
)
def test_a_mounted_docker_socket_is_found_in_short_and_long_syntax(volume: str) -> None:
    service = "volumes:\n" + textwrap.indent(volume, "  ")
    assert compose.DOCKER_SOCKET in rules_in(compose.audit(compose_text(service)))


@pytest.mark.parametrize(
    ("service", "rule"),
    [
        ("privileged: true", compose.PRIVILEGED),
        ("network_mode: host", compose.HOST_NETWORK),
        ("pid: host", compose.HOST_NAMESPACE),
        ("ipc: host", compose.HOST_NAMESPACE),
        ("cap_add: [ALL]", compose.CAP_ADD),
        ("cap_add: [CAP_SYS_ADMIN]", compose.CAP_ADD),
        ("security_opt: [apparmor=unconfined]", compose.UNCONFINED),
        ("security_opt: ['no-new-privileges:false']", compose.NO_NEW_PRIVILEGES),
        ("read_only: false", compose.READ_ONLY),
        ("pids_limit: -1", compose.PIDS_LIMIT),
        ("mem_limit: 0", compose.MEMORY_LIMIT),
    ],
)
def test_a_value_set_on_purpose_is_found_but_left_to_a_person(service: str, rule: str) -> None:
    text = compose_text(service)
    findings = [(f.rule, f.message) for f in compose.audit(text) if f.rule == rule]
    assert findings
    assert not any(finding.fixable for finding in compose.audit(text) if finding.rule == rule)
    assert [(f.rule, f.message) for f in compose.audit(compose.fix(text)) if f.rule == rule] == (
        findings
    )


@pytest.mark.parametrize(
    ("service", "rule"),
    [
        ("read_only: true\ntmpfs: [/tmp, /run/postgresql]", compose.READ_ONLY),
        ("cap_drop: [all]", compose.CAP_DROP),
        ("cap_add: [CHOWN, SETUID, SETGID, NET_BIND_SERVICE]", compose.CAP_ADD),
        ("security_opt: [no-new-privileges]", compose.NO_NEW_PRIVILEGES),
        ("security_opt: ['no-new-privileges=true']", compose.NO_NEW_PRIVILEGES),
        ("deploy:\n  resources:\n    limits:\n      memory: 1g", compose.MEMORY_LIMIT),
        ("deploy:\n  resources:\n    limits:\n      pids: 100", compose.PIDS_LIMIT),
        ("pids_limit: 100", compose.PIDS_LIMIT),
        ("mem_limit: 256m", compose.MEMORY_LIMIT),
    ],
)
def test_a_hardened_setting_in_any_accepted_spelling_passes(service: str, rule: str) -> None:
    assert rule not in rules_in(compose.audit(compose_text(service)))


def test_settings_merged_from_an_anchor_count_for_the_service() -> None:
    text = textwrap.dedent(
        """\
        x-hardened: &hardened
          read_only: true
          cap_drop: [ALL]
          security_opt: [no-new-privileges:true]
          mem_limit: 256m
          pids_limit: 64
        services:
          job:
            <<: *hardened
            command: ["skills-service", "db", "upgrade"]
        """
    )
    assert compose.audit(text) == []


@pytest.mark.parametrize(
    ("networks", "found"),
    [
        ("backend: {}", True),
        ("backend:\n  driver: bridge", True),
        ("db:\n  name: skills-backend", True),
        ("backend:\n  internal: true", False),
        ("backend:\n  external: true", False),
        ("frontend: {}", False),
    ],
)
def test_a_backend_network_must_be_internal(networks: str, found: bool) -> None:
    text = compose_text("image: x:1", extra="networks:\n" + textwrap.indent(networks, "  "))
    assert (compose.BACKEND_INTERNAL in rules_in(compose.audit(text))) is found


def test_a_one_shot_job_is_checked_like_any_service() -> None:
    text = compose_text('command: ["skills-service", "db", "upgrade"]\nrestart: "no"')
    assert {compose.READ_ONLY, compose.CAP_DROP, compose.PIDS_LIMIT} <= rules_in(
        compose.audit(text)
    )


# Dockerfile: the tricky cases one by one


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root", "${RUNTIME_USER}"])
def test_a_final_root_user_is_found_by_name_or_number(user: str) -> None:
    text = dockerfile_text(
        f"""
        FROM python:3.12-slim
        ARG RUNTIME_USER=0
        USER {user}
        HEALTHCHECK CMD ["python", "-c", "print()"]
        """
    )
    findings = [f for f in dockerfile.audit(text) if f.rule == dockerfile.USER]
    assert [(finding.line, finding.fixable) for finding in findings] == [(3, False)]


def test_a_lower_case_user_instruction_counts() -> None:
    text = 'from python:3.12-slim\nuser root\nhealthcheck CMD ["python", "-V"]\n'
    assert rules_in(dockerfile.audit(text)) == {dockerfile.USER}


def test_only_the_final_stage_user_matters() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-slim AS build
        USER 10001
        FROM python:3.12-slim
        USER root
        HEALTHCHECK CMD ["python", "-V"]
        """
    )
    assert rules_in(dockerfile.audit(text)) == {dockerfile.USER}


def test_a_final_stage_without_user_is_found_and_fixable() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-slim AS build
        USER 10001
        FROM python:3.12-slim
        HEALTHCHECK CMD ["python", "-V"]
        """
    )
    findings = dockerfile.audit(text)
    assert [(f.rule, f.line, f.fixable) for f in findings] == [(dockerfile.USER, 3, True)]


def test_a_user_set_in_the_stage_the_final_one_builds_on_counts() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-slim AS base
        USER 10001
        HEALTHCHECK CMD ["python", "-V"]
        FROM base AS runtime
        CMD ["python"]
        """
    )
    assert dockerfile.audit(text) == []


def test_a_distroless_nonroot_base_needs_no_user() -> None:
    text = 'FROM gcr.io/distroless/python3-debian12:nonroot\nHEALTHCHECK CMD ["python3", "-V"]\n'
    assert dockerfile.audit(text) == []


@pytest.mark.parametrize(
    ("base", "healthcheck", "found"),
    [
        ("python:3.12-slim", "curl -f http://127.0.0.1:8000/healthz || exit 1", True),
        ("python:3.12-slim", '["curl", "-f", "http://127.0.0.1:8000/healthz"]', True),
        ("python:3.12-slim", '["/usr/bin/wget", "-q", "http://127.0.0.1:8000/"]', True),
        ("python:3.12-slim", '["sh", "-c", "curl -f http://127.0.0.1:8000/"]', True),
        ("debian:bookworm-20250101", "wget -q -O- http://127.0.0.1/", True),
        ("python:3.12-alpine", "curl -f http://127.0.0.1:8000/", True),
        ("python:3.12-alpine", "wget -q -O- http://127.0.0.1:8000/", False),
        ("gcr.io/distroless/python3-debian12:latest", '["python3", "-V"]', False),
        ("gcr.io/distroless/python3-debian12:1", "python3 -V", True),
        ("python:3.12-bookworm", "curl -f http://127.0.0.1:8000/", False),
        ("python:3.12-slim", '["python", "-c", "import urllib.request"]', False),
    ],
)
def test_a_health_check_needing_what_the_base_lacks_is_found(
    base: str, healthcheck: str, found: bool
) -> None:
    text = f"FROM {base}\nUSER 10001\nHEALTHCHECK --interval=10s CMD {healthcheck}\n"
    findings = dockerfile.audit(text)
    assert (dockerfile.HEALTHCHECK_TOOL in rules_in(findings)) is found


def test_a_health_check_tool_installed_in_the_final_stage_is_accepted() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-slim
        RUN apt-get update \\
            && apt-get install -y --no-install-recommends \\
                curl=7.88.1-10+deb12u8 \\
            && rm -rf /var/lib/apt/lists/*
        USER 10001
        HEALTHCHECK CMD curl -f http://127.0.0.1:8000/healthz
        """
    )
    assert dockerfile.audit(text) == []


def test_a_health_check_tool_installed_only_in_a_build_stage_is_found() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-alpine AS build
        RUN apk add --no-cache curl
        FROM python:3.12-alpine
        USER 10001
        HEALTHCHECK CMD curl -f http://127.0.0.1:8000/healthz
        """
    )
    assert rules_in(dockerfile.audit(text)) == {dockerfile.HEALTHCHECK_TOOL}


@pytest.mark.parametrize("healthcheck", ["", "HEALTHCHECK NONE\n"])
def test_a_final_stage_without_a_health_check_is_found(healthcheck: str) -> None:
    text = f"FROM python:3.12-slim\nUSER 10001\n{healthcheck}"
    assert rules_in(dockerfile.audit(text)) == {dockerfile.HEALTHCHECK}


@pytest.mark.parametrize(
    ("image", "found"),
    [
        ("python", True),
        ("python:latest", True),
        ("registry.local:5000/team/app", True),
        ("registry.local:5000/team/app:1.4", False),
        ("python:3.12-slim", False),
        ("python@sha256:" + "a" * 64, False),
        ("python:3.12-slim@sha256:" + "a" * 64, False),
        ("scratch", False),
        ("${BASE}", False),
        ("${UNSET}", True),
    ],
)
def test_an_unpinned_base_image_is_found(image: str, found: bool) -> None:
    text = (
        "ARG BASE=python:3.12-slim\n"
        f"FROM --platform=$BUILDPLATFORM {image} AS build\n"
        'FROM build\nUSER 10001\nHEALTHCHECK CMD ["true"]\n'
    )
    assert (dockerfile.BASE_PINNED in rules_in(dockerfile.audit(text))) is found


@pytest.mark.parametrize(
    ("add", "found"),
    [
        ("ADD https://example.org/tool.tgz /opt/", True),
        ("ADD http://example.org/tool.tgz /opt/", True),
        ("ADD git@github.com:example/tool.git /opt/tool", True),
        ('ADD ["https://example.org/a.tgz", "/opt/"]', True),
        ("ADD --checksum=sha256:" + "b" * 64 + " https://example.org/tool.tgz /opt/", False),
        ("ADD vendor.tar.gz /opt/", False),
        ("COPY https-notes.txt /opt/", False),
    ],
)
def test_adding_a_remote_url_is_found(add: str, found: bool) -> None:
    text = f'FROM python:3.12-slim\n{add}\nUSER 10001\nHEALTHCHECK CMD ["true"]\n'
    assert (dockerfile.ADD_URL in rules_in(dockerfile.audit(text))) is found


@pytest.mark.parametrize(
    ("run", "found"),
    [
        ("RUN apt-get install -y gcc", True),
        ("RUN apt-get update && apt install -y gcc", True),
        ("RUN apt-get install -y --no-install-recommends gcc && apt-get install -y make", True),
        ("RUN apt-get install -y --no-install-recommends gcc", False),
        ("RUN apt-get -o APT::Install-Recommends=false install -y gcc", False),
        ("RUN apt-get update", False),
        ("RUN pip install --no-cache-dir gunicorn", False),
    ],
)
def test_apt_installing_recommended_packages_is_found(run: str, found: bool) -> None:
    text = f'FROM python:3.12-slim\n{run}\nUSER 10001\nHEALTHCHECK CMD ["true"]\n'
    assert (dockerfile.NO_RECOMMENDS in rules_in(dockerfile.audit(text))) is found


def test_continuation_lines_and_comments_inside_them_make_one_instruction() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-slim
        # a comment before
        RUN apt-get update \\
            # a comment inside the instruction

            && apt-get install -y \\
                gcc
        USER 10001
        HEALTHCHECK CMD ["true"]
        """
    )
    findings = dockerfile.audit(text)
    assert [(f.rule, f.line) for f in findings] == [(dockerfile.NO_RECOMMENDS, 3)]


def test_the_escape_directive_changes_the_continuation_character() -> None:
    text = (
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
        "RUN apt-get install `\n"
        "    -y gcc\n"
        "USER 10001\n"
        'HEALTHCHECK CMD ["true"]\n'
    )
    findings = dockerfile.audit(text)
    assert [(f.rule, f.line) for f in findings] == [(dockerfile.NO_RECOMMENDS, 3)]


def test_a_heredoc_body_belongs_to_its_run_and_is_not_read_as_instructions() -> None:
    text = dockerfile_text(
        """
        FROM python:3.12-slim
        USER 10001
        RUN <<EOF
        apt-get update
        apt-get install -y gcc
        USER root
        EOF
        HEALTHCHECK CMD ["true"]
        """
    )
    findings = dockerfile.audit(text)
    assert [(f.rule, f.line) for f in findings] == [(dockerfile.NO_RECOMMENDS, 3)]


def test_a_file_without_from_is_not_a_dockerfile() -> None:
    with pytest.raises(harden.HardenError, match="no FROM"):
        dockerfile.audit("# nothing here\nRUN true\n")


# daemon.json


def test_an_empty_daemon_json_misses_every_fixable_setting() -> None:
    findings = daemon.audit("")
    assert rules_in(findings) == set(daemon.RULES) - {daemon.TCP_TLS, daemon.INSECURE_REGISTRIES}
    assert all(finding.fixable for finding in findings)


@pytest.mark.parametrize(
    ("settings", "found"),
    [
        ({}, True),
        ({"log-driver": "json-file"}, True),
        ({"log-driver": "json-file", "log-opts": {"max-file": "3"}}, True),
        ({"log-opts": {"max-size": "10m"}}, False),
        ({"log-driver": "local"}, False),
        ({"log-driver": "journald"}, False),
    ],
)
def test_logs_kept_on_disk_without_rotation_are_found(
    settings: dict[str, object], found: bool
) -> None:
    findings = daemon.audit(json.dumps(settings))
    assert (daemon.LOG_ROTATION in rules_in(findings)) is found


@pytest.mark.parametrize(
    ("settings", "found"),
    [
        ({"hosts": ["tcp://0.0.0.0:2375"]}, True),
        ({"hosts": ["tcp://0.0.0.0:2376"], "tls": True}, True),
        ({"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True}, False),
        ({"hosts": ["unix:///var/run/docker.sock"]}, False),
    ],
)
def test_an_api_on_tcp_without_client_certificates_is_found(
    settings: dict[str, object], found: bool
) -> None:
    assert (daemon.TCP_TLS in rules_in(daemon.audit(json.dumps(settings)))) is found


@pytest.mark.parametrize(
    ("settings", "rule"),
    [
        ({"icc": "false"}, daemon.ICC),
        ({"userns-remap": ""}, daemon.USERNS_REMAP),
        ({"live-restore": 1}, daemon.LIVE_RESTORE),
    ],
)
def test_a_daemon_setting_counts_only_with_its_proper_json_value(
    settings: dict[str, object], rule: str
) -> None:
    assert rule in rules_in(daemon.audit(json.dumps(settings)))


@pytest.mark.parametrize("text", ["{", "[]", '{"icc": false,}'])
def test_a_daemon_json_that_is_not_a_json_object_is_refused(text: str) -> None:
    with pytest.raises(harden.HardenError):
        daemon.audit(text)


def test_an_empty_max_size_is_replaced_by_the_default() -> None:
    fixed = daemon.fix('{"log-opts": {"max-size": ""}}')
    assert json.loads(fixed)["log-opts"] == daemon.DEFAULT_LOG_OPTIONS
    assert daemon.LOG_ROTATION not in rules_in(daemon.audit(fixed))


def test_fixing_daemon_json_sets_the_keys_and_keeps_order_and_indentation() -> None:
    text = '{\n    "debug": true,\n    "icc": true,\n    "log-opts": {"max-file": "5"}\n}\n'
    fixed = daemon.fix(text)
    assert json.loads(fixed) == {
        "debug": True,
        "icc": False,
        "log-opts": {"max-file": "5", "max-size": "10m"},
        "live-restore": True,
        "no-new-privileges": True,
        "userland-proxy": False,
        "userns-remap": "default",
    }
    assert fixed.startswith('{\n    "debug": true,\n    "icc": false,')
    assert daemon.fix(fixed) == fixed


# Fixing


@pytest.mark.parametrize("name", sorted(KINDS))
def test_after_a_fix_only_findings_that_are_not_fixable_remain(name: str) -> None:
    module = KINDS[name]
    text = (FIXTURES / "weak" / name).read_text()
    before = module.audit(text)
    after = module.audit(module.fix(text))
    assert not any(finding.fixable for finding in after)
    unfixable = [(f.rule, f.where) for f in before if not f.fixable]
    assert sorted((f.rule, f.where) for f in after) == sorted(unfixable)


@pytest.mark.parametrize("variant", ["weak", "hardened"])
@pytest.mark.parametrize("name", sorted(KINDS))
def test_fixing_twice_changes_nothing_the_second_time(variant: str, name: str) -> None:
    module = KINDS[name]
    once = module.fix((FIXTURES / variant / name).read_text())
    assert module.fix(once) == once


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_hardened_file_is_left_byte_for_byte_unchanged(name: str) -> None:
    text = (FIXTURES / "hardened" / name).read_text()
    assert KINDS[name].fix(text) == text


def test_fixing_a_compose_file_keeps_every_comment_and_untouched_line() -> None:
    text = (FIXTURES / "weak" / "compose.yaml").read_text()
    fixed = compose.fix(text)
    comments = [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    assert comments
    for comment in comments:
        assert f"#{comment}" in fixed
    assert '    image: "example/app:1.0"  # the application' in fixed
    assert "    cap_add: [SYS_ADMIN, NET_BIND_SERVICE]" in fixed
    assert "  # Runs with the host's network and the engine's socket.\n  agent:" in fixed


def test_fixing_a_compose_file_rewrites_ports_and_adds_the_missing_settings() -> None:
    fixed = compose.fix((FIXTURES / "weak" / "compose.yaml").read_text())
    for binding in ("127.0.0.1:15000:5000", "127.0.0.1:8443:443", "127.0.0.1:8080:80"):
        assert f'      - "{binding}"' in fixed
    assert '      - "127.0.0.1::5000"' in fixed
    assert '        host_ip: "127.0.0.1"' in fixed
    worker = fixed[fixed.index("  worker:") : fixed.index("\nnetworks:")]
    assert worker.splitlines()[-6:] == [
        "    read_only: true",
        "    cap_drop: [ALL]",
        "    security_opt: [no-new-privileges:true]",
        f"    mem_limit: {compose.DEFAULT_MEMORY}",
        f"    pids_limit: {compose.DEFAULT_PIDS}",
        "    # nothing hardened here",
    ]


def test_an_added_key_lands_in_its_own_block_before_the_blank_line_and_comments_after_it() -> None:
    text = textwrap.dedent(
        """\
        services:
          app:
            image: a:1
            deploy:
              resources:
                limits:
                  cpus: "1"   # one core
            # trailing words about app

          db:
            image: b:1
        """
    )
    fixed = compose.fix(text)
    app = fixed[: fixed.index("  db:")]
    assert '          cpus: "1"   # one core\n' in app
    assert (
        f"          memory: {compose.DEFAULT_MEMORY}\n          pids: {compose.DEFAULT_PIDS}\n"
        in app
    )
    assert app.endswith(
        "    security_opt: [no-new-privileges:true]\n    # trailing words about app\n\n"
    )


SERVICE_VARIANTS = {
    "read_only": ["", "read_only: true", "read_only: false"],
    "cap_drop": ["", "cap_drop: [ALL]", "cap_drop:\n  - NET_RAW  # raw sockets", "cap_drop: []"],
    "security_opt": [
        "",
        "security_opt: [no-new-privileges:true]",
        "security_opt:\n  - label:type:app_t\n\n# gap",
    ],
    "limits": [
        "",
        "mem_limit: 1g",
        "pids_limit: 10",
        "deploy:\n  resources:\n    limits:\n      cpus: '1'  # one core\n",
    ],
    "ports": [
        "",
        'ports: ["8000:8000", "127.0.0.1:9000:9000"]',
        "ports:\n  - 5000\n  - target: 80  # web\n",
        "ports:\n  - '[::]:53:53/udp'\n  - '10.1.2.3:22:22'",
    ],
    "tail": ["", "# a comment that closes the service\n", "\n\n"],
}


@given(
    choices=st.fixed_dictionaries(
        {key: st.sampled_from(variants) for key, variants in SERVICE_VARIANTS.items()}
    ),
    services=st.integers(1, 3),
)
def test_any_compose_file_is_fixed_completely_and_idempotently(
    choices: dict[str, str], services: int
) -> None:
    body = "\n".join(choices[key] for key in SERVICE_VARIANTS if choices[key])
    one = "image: example/app:1.0\n" + body
    text = "services:\n" + "".join(
        f"  s{index}:\n" + textwrap.indent(one, "    ") + "\n" for index in range(services)
    )
    fixed = compose.fix(text)
    assert not any(finding.fixable for finding in compose.audit(fixed))
    assert compose.fix(fixed) == fixed
    assert all(f"s{index}" in fixed for index in range(services))


def test_a_list_shared_through_an_anchor_is_fixed_once() -> None:
    text = textwrap.dedent(
        """\
        x-caps: &caps [NET_RAW]
        services:
          a:
            cap_drop: *caps
          b:
            cap_drop: *caps
        """
    )
    fixed = compose.fix(text)
    assert fixed.count("ALL") == 1
    assert compose.CAP_DROP not in rules_in(compose.audit(fixed))


@pytest.mark.parametrize(("indent", "offset"), [(2, 0), (2, 2), (4, 0), (4, 4)])
def test_the_indentation_of_mappings_and_block_sequences_is_kept(indent: int, offset: int) -> None:
    key, dash = " " * 2 * indent, " " * (2 * indent + offset)
    text = (
        f"services:\n{' ' * indent}app:\n{key}ports:\n{dash}- '8000:8000'\n{key}read_only: true\n"
    )
    fixed = compose.fix(text)
    assert fixed.startswith(text.split(f"{dash}-")[0])
    assert f"\n{dash}- '127.0.0.1:8000:8000'\n{key}read_only: true\n{key}cap_drop: [ALL]\n" in fixed


def test_fixing_a_dockerfile_appends_a_numeric_user_and_nothing_else() -> None:
    text = 'FROM python:3.12-slim\nHEALTHCHECK CMD ["python", "-V"]'
    assert dockerfile.fix(text) == f"{text}\nUSER {dockerfile.DEFAULT_USER}\n"


def test_a_user_appended_to_a_crlf_dockerfile_keeps_its_line_endings() -> None:
    text = 'FROM python:3.12-slim\r\nHEALTHCHECK CMD ["python", "-V"]\r\n'
    assert dockerfile.fix(text) == f"{text}USER {dockerfile.DEFAULT_USER}\r\n"


@pytest.mark.parametrize("ending", ["RUN echo one \\\n", "RUN <<EOF\necho one\n"])
def test_no_user_is_left_to_a_person_when_the_file_ends_inside_an_instruction(
    ending: str,
) -> None:
    text = f'FROM python:3.12-slim\nHEALTHCHECK CMD ["python", "-V"]\n{ending}'
    findings = [f for f in dockerfile.audit(text) if f.rule == dockerfile.USER]
    assert [finding.fixable for finding in findings] == [False]
    assert dockerfile.fix(text) == text


def test_a_root_user_written_on_purpose_is_not_rewritten() -> None:
    text = (FIXTURES / "weak" / "Dockerfile").read_text()
    assert dockerfile.fix(text) == text


# The file system: kinds, backups, writing


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("compose.yaml", Kind.COMPOSE),
        ("compose.yml", Kind.COMPOSE),
        ("docker-compose.yml", Kind.COMPOSE),
        ("docker-compose.prod.yaml", Kind.COMPOSE),
        ("compose.override.yaml", Kind.COMPOSE),
        ("Dockerfile", Kind.DOCKERFILE),
        ("Dockerfile.prod", Kind.DOCKERFILE),
        ("app.Dockerfile", Kind.DOCKERFILE),
        ("daemon.json", Kind.DAEMON),
    ],
)
def test_the_kind_of_a_file_comes_from_its_name(name: str, kind: Kind) -> None:
    assert kind_of(Path(name), "") is kind


def test_other_yaml_with_services_is_a_compose_file() -> None:
    assert kind_of(Path("stack.yml"), "services:\n  app:\n    image: x:1\n") is Kind.COMPOSE


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("notes.yaml", "title: not compose\n"),
        ("broken.yaml", "services: [\n"),
        ("Dockerfile.dockerignore", "*.pyc\n"),
        ("settings.json", "{}"),
        ("README.md", "# hello\n"),
    ],
)
def test_a_file_of_no_known_kind_is_refused(name: str, text: str) -> None:
    with pytest.raises(harden.HardenError, match="not a file harden knows"):
        kind_of(Path(name), text)


def test_writing_keeps_the_original_as_a_backup(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "compose.yaml")
    original = path.read_bytes()
    result = harden.fix(harden.load(path))
    assert result.backup == tmp_path / "compose.yaml.bak"
    assert result.backup.read_bytes() == original
    assert path.read_bytes() == compose.fix(original.decode()).encode()
    assert result.fixed == len([f for f in result.target.findings if f.fixable])


def test_writing_twice_changes_no_byte_and_makes_no_second_backup(tmp_path: Path) -> None:
    paths = [copy_fixture(tmp_path, "weak", name) for name in sorted(KINDS)]
    for path in paths:
        harden.fix(harden.load(path))
    first = {path: path.read_bytes() for path in tmp_path.iterdir()}
    results = [harden.fix(harden.load(path)) for path in paths]
    assert all(result.backup is None for result in results)
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == first


def test_an_existing_backup_is_never_overwritten(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "daemon.json")
    (tmp_path / "daemon.json.bak").write_text("older backup")
    result = harden.fix(harden.load(path))
    assert result.backup == tmp_path / "daemon.json.bak.1"
    assert (tmp_path / "daemon.json.bak").read_text() == "older backup"


def test_writing_keeps_the_file_mode(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "daemon.json")
    path.chmod(0o600)
    result = harden.fix(harden.load(path))
    assert result.backup is not None
    assert path.stat().st_mode & 0o777 == 0o600
    assert result.backup.stat().st_mode & 0o777 == 0o600


def test_a_file_changed_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "daemon.json")
    target = harden.load(path)
    path.write_text('{"icc": false}\n')
    with pytest.raises(harden.HardenError, match="changed"):
        harden.fix(target)
    assert path.read_text() == '{"icc": false}\n'
    assert not (tmp_path / "daemon.json.bak").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"\xff\xfe\x00", "not UTF-8"), (b"services: [\n", "not valid YAML")],
)
def test_an_unusable_file_is_a_clear_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "compose.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(harden.HardenError, match=message):
        harden.load(path)


# The command line


def test_check_exits_1_with_a_table_of_the_findings() -> None:
    result = invoke("--check", str(FIXTURES / "weak" / "compose.yaml"))
    assert result.exit_code == 1
    header, *rows, summary = result.stdout.splitlines()
    assert header.split() == ["LOCATION", "RULE", "FIXABLE", "MESSAGE"]
    pattern = re.compile(r"\S+compose\.yaml:11 +compose-ports-loopback +yes +services\.app\.")
    assert any(pattern.match(row) for row in rows)
    assert summary.startswith(f"{len(rows)} findings in 1 file (")


def test_check_exits_0_on_hardened_files() -> None:
    paths = [str(FIXTURES / "hardened" / name) for name in sorted(KINDS)]
    result = invoke("--check", *paths)
    assert (result.exit_code, result.stdout) == (0, "no findings in 3 files\n")


def test_write_fixes_then_exits_1_while_findings_remain(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "compose.yaml")
    result = invoke("--write", str(path))
    assert result.exit_code == 1
    assert f"original kept as {tmp_path / 'compose.yaml.bak'}" in result.stdout
    assert " yes " not in result.stdout
    assert "left to fix by hand in 1 file" in result.stdout


def test_write_exits_0_when_everything_could_be_fixed(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("{}\n")
    assert invoke("--write", str(path)).exit_code == 0
    assert invoke("--check", str(path)).exit_code == 0
    again = invoke("--write", str(path))
    assert (again.exit_code, again.stdout) == (0, "no findings in 1 file\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daemon.json", "daemon.json.bak"]


def test_a_file_named_twice_is_fixed_once(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "daemon.json")
    result = invoke("--write", str(path), str(tmp_path / "." / "daemon.json"))
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daemon.json", "daemon.json.bak"]


@pytest.mark.parametrize("flags", [[], ["--check", "--write"]])
def test_exactly_one_of_check_and_write_is_required(flags: list[str]) -> None:
    result = invoke(*flags, str(FIXTURES / "weak" / "compose.yaml"))
    assert result.exit_code == 2
    assert "exactly one of --check or --write" in result.stderr


def test_at_least_one_path_is_required() -> None:
    assert invoke("--check").exit_code == 2


def test_an_unknown_or_missing_file_exits_2_and_nothing_is_written(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "compose.yaml")
    (tmp_path / "notes.txt").write_text("hello\n")
    result = invoke("--write", str(path), str(tmp_path / "notes.txt"), str(tmp_path / "gone"))
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'notes.txt'}: not a file harden knows" in result.stderr
    assert f"error: {tmp_path / 'gone'}: cannot read it" in result.stderr
    assert "Traceback" not in result.output
    assert path.read_bytes() == (FIXTURES / "weak" / "compose.yaml").read_bytes()


def test_a_directory_stands_for_the_files_harden_knows_in_it() -> None:
    result = invoke("--check", str(FIXTURES / "hardened"))
    assert (result.exit_code, result.stdout) == (0, "no findings in 3 files\n")


def weak_directory(root: Path) -> Path:
    """The weak fixtures beside files harden does not know, backups and a subdirectory."""
    for name in KINDS:
        copy_fixture(root, "weak", name)
    (root / "README.md").write_text("# not a container file\n")
    (root / "values.yaml").write_text("services:\n  app:\n    image: x:1\n")
    (root / "Dockerfile.bak").write_text("FROM x:1\n")
    (root / "compose.yaml.bak.2").write_text("services: {}\n")
    (root / ".compose.yaml.tmp1234").write_text("services: {}\n")
    (root / "nested").mkdir()
    copy_fixture(root / "nested", "weak", "compose.yaml")
    return root


def test_checking_a_directory_audits_its_known_files_only(tmp_path: Path) -> None:
    directory = weak_directory(tmp_path)
    result = invoke("--check", str(directory))
    assert result.exit_code == 1, result.output
    _header, *rows, summary = result.stdout.splitlines()
    audited = {row.split()[0].partition(":")[0] for row in rows}
    assert audited == {str(directory / name) for name in KINDS}
    assert summary.startswith(f"{len(rows)} findings in 3 files (")


def test_writing_a_directory_twice_fixes_each_file_once_and_ignores_its_backups(
    tmp_path: Path,
) -> None:
    directory = weak_directory(tmp_path)
    first = invoke("--write", str(directory))
    assert first.exit_code == 1, first.output
    fixable = [
        name
        for name in KINDS
        if any(f.fixable for f in harden.load(FIXTURES / "weak" / name).findings)
    ]
    assert first.stdout.count("original kept as") == len(fixable)
    after_first = {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}
    second = invoke("--write", str(directory))
    assert "original kept as" not in second.stdout
    assert {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()} == (
        after_first
    )
    assert (directory / "nested" / "compose.yaml").read_bytes() == (
        FIXTURES / "weak" / "compose.yaml"
    ).read_bytes()


def test_a_file_named_and_inside_a_named_directory_is_fixed_once(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "daemon.json")
    result = invoke("--write", str(tmp_path), str(path))
    assert result.stdout.count("original kept as") == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daemon.json", "daemon.json.bak"]


def test_a_directory_without_a_file_harden_knows_exits_2(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# hello\n")
    (tmp_path / "nested").mkdir()
    copy_fixture(tmp_path / "nested", "weak", "Dockerfile")
    result = invoke("--check", str(tmp_path))
    assert result.exit_code == 2
    assert f"error: {tmp_path}: no file harden knows in this directory" in result.stderr
    assert "Traceback" not in result.output


def test_an_unusable_directory_stops_every_write(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "weak", "compose.yaml")
    (tmp_path / "empty").mkdir()
    result = invoke("--write", str(path), str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert path.read_bytes() == (FIXTURES / "weak" / "compose.yaml").read_bytes()


def test_harden_needs_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLS_ENV", "production")
    monkeypatch.delenv("SKILLS_SECRET_KEY", raising=False)
    result = invoke("--check", str(FIXTURES / "hardened" / "Dockerfile"))
    assert result.exit_code == 0, result.output


# Documentation


@pytest.mark.parametrize("rule", [*compose.RULES, *dockerfile.RULES, *daemon.RULES])
def test_every_rule_is_documented(rule: str) -> None:
    assert f"`{rule}`" in DOCS.read_text()


def test_the_table_aligns_its_columns() -> None:
    lines = harden.format_table(
        [
            ("a", harden.Finding("rule-one", "x", "first", 3, True)),
            ("longer-name", harden.Finding("r", "", "second")),
        ]
    )
    assert lines == [
        "LOCATION     RULE      FIXABLE  MESSAGE",
        "a:3          rule-one  yes      x: first",
        "longer-name  r         no       second",
    ]
