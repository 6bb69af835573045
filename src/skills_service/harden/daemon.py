"""Hardening rules for Docker's ``daemon.json``, and the fixes for them.

The daemon settings are host-wide policy with no per-container exception to keep,
so ``--write`` sets every fixable key. JSON has no comments: the rewritten file
keeps the key order and the indentation, nothing else of the layout. Changing
``userns-remap`` moves the daemon to a new storage root (images and containers
made before it are not seen until it is removed again); restart the daemon after
writing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from skills_service.harden.findings import Finding, HardenError

ICC = "daemon-icc"
USERNS_REMAP = "daemon-userns-remap"
LIVE_RESTORE = "daemon-live-restore"
NO_NEW_PRIVILEGES = "daemon-no-new-privileges"
USERLAND_PROXY = "daemon-userland-proxy"
LOG_ROTATION = "daemon-log-rotation"
TCP_TLS = "daemon-tcp-tls"
INSECURE_REGISTRIES = "daemon-insecure-registries"

RULES = (
    ICC,
    USERNS_REMAP,
    LIVE_RESTORE,
    NO_NEW_PRIVILEGES,
    USERLAND_PROXY,
    LOG_ROTATION,
    TCP_TLS,
    INSECURE_REGISTRIES,
)

DEFAULT_LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}

Settings = dict[str, Any]
Fix = Callable[[Settings], None]

# (rule, key, required value, why)
_REQUIRED: tuple[tuple[str, str, bool, str], ...] = (
    (ICC, "icc", False, "containers on the default bridge can talk to each other"),
    (LIVE_RESTORE, "live-restore", True, "containers stop when the daemon restarts or upgrades"),
    (
        NO_NEW_PRIVILEGES,
        "no-new-privileges",
        True,
        "processes in containers may gain privileges through setuid binaries",
    ),
    (
        USERLAND_PROXY,
        "userland-proxy",
        False,
        "every published port runs a docker-proxy process, more code exposed to the network",
    ),
)


def audit(text: str) -> list[Finding]:
    """Every finding in a daemon.json."""
    return [finding for finding, _ in _findings(_load(text), text)]


def fix(text: str) -> str:
    """The file with every fixable key set; the same text when there is none."""
    settings = _load(text)
    fixes = [repair for _, repair in _findings(settings, text) if repair is not None]
    if not fixes:
        return text
    for repair in fixes:
        repair(settings)
    return json.dumps(settings, indent=_indent(text), ensure_ascii=False) + "\n"


def _load(text: str) -> Settings:
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HardenError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(settings, dict):
        raise HardenError("not a daemon.json: the top level is not an object")
    return settings


def _indent(text: str) -> int:
    match = re.search(r"^( +)\"", text, re.MULTILINE)
    return len(match.group(1)) if match else 2


def _line(text: str, key: str) -> int | None:
    match = re.search(rf"\"{re.escape(key)}\"\s*:", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _findings(settings: Settings, text: str) -> Iterator[tuple[Finding, Fix | None]]:
    for rule, key, required, why in _REQUIRED:
        if settings.get(key) is not required:
            yield (
                Finding(
                    rule, key, f"{why}; set it to {json.dumps(required)}", _line(text, key), True
                ),
                _setter(key, required),
            )
    remap = settings.get("userns-remap")
    if not (isinstance(remap, str) and remap.strip()):
        yield (
            Finding(
                USERNS_REMAP,
                "userns-remap",
                'root in a container is root on the host; set it (e.g. "default")',
                _line(text, "userns-remap"),
                True,
            ),
            _setter("userns-remap", "default"),
        )
    yield from _log_rotation(settings, text)
    yield from _tcp_tls(settings, text)
    registries = settings.get("insecure-registries")
    if isinstance(registries, list) and registries:
        yield (
            Finding(
                INSECURE_REGISTRIES,
                "insecure-registries",
                f"images from {', '.join(map(str, registries))} are pulled without TLS",
                _line(text, "insecure-registries"),
            ),
            None,
        )


def _setter(key: str, value: Any) -> Fix:
    def set_key(settings: Settings) -> None:
        settings[key] = value

    return set_key


def _log_rotation(settings: Settings, text: str) -> Iterator[tuple[Finding, Fix | None]]:
    """The default json-file driver keeps every line forever unless max-size is set.

    ``local`` rotates by itself; the other drivers keep nothing on the host's disk.
    """
    driver = settings.get("log-driver", "json-file")
    options = settings.get("log-opts")
    if driver != "json-file":
        return
    if isinstance(options, dict) and options.get("max-size"):
        return

    def add_limits(settings: Settings) -> None:
        current = settings.get("log-opts")
        limits = current if isinstance(current, dict) else {}
        for key, value in DEFAULT_LOG_OPTIONS.items():
            if not limits.get(key):
                limits[key] = value
        settings["log-opts"] = limits

    yield (
        Finding(
            LOG_ROTATION,
            "log-opts",
            f"{driver} logs grow without limit; set log-opts max-size (and max-file)",
            _line(text, "log-opts") or _line(text, "log-driver"),
            True,
        ),
        add_limits,
    )


def _tcp_tls(settings: Settings, text: str) -> Iterator[tuple[Finding, Fix | None]]:
    hosts = settings.get("hosts")
    listens = [str(host) for host in hosts] if isinstance(hosts, list) else []
    if settings.get("tlsverify") is True:
        return
    for host in listens:
        if host.startswith("tcp://"):
            yield (
                Finding(
                    TCP_TLS,
                    "hosts",
                    f"{host} serves the Docker API without client certificates "
                    "(root on the host for anyone who reaches it); set tlsverify",
                    _line(text, "hosts"),
                ),
                None,
            )
