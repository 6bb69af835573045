"""Hardening rules for a docker compose file, and the safe fixes for them.

Every service is checked the same way, one-shot jobs included. ``--write`` adds
what is missing and rewrites ports published on every interface to 127.0.0.1; it
never overturns a value someone wrote on purpose (``read_only: false``,
``privileged: true``, a root ``user``, ``pids_limit: -1``): those stay findings to
decide by hand. The file is edited in ruamel.yaml's round-trip mode, so comments,
quoting, anchors and key order survive.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from skills_service.harden import ports
from skills_service.harden.findings import Finding, HardenError

READ_ONLY = "compose-read-only"
CAP_DROP = "compose-cap-drop"
CAP_ADD = "compose-cap-add"
NO_NEW_PRIVILEGES = "compose-no-new-privileges"
UNCONFINED = "compose-unconfined"
MEMORY_LIMIT = "compose-mem-limit"
PIDS_LIMIT = "compose-pids-limit"
PORTS = "compose-ports-loopback"
PRIVILEGED = "compose-privileged"
HOST_NETWORK = "compose-host-network"
HOST_NAMESPACE = "compose-host-namespace"
DOCKER_SOCKET = "compose-docker-socket"
ROOT_USER = "compose-root-user"
BACKEND_INTERNAL = "compose-backend-internal"

RULES = (
    READ_ONLY,
    CAP_DROP,
    CAP_ADD,
    NO_NEW_PRIVILEGES,
    UNCONFINED,
    MEMORY_LIMIT,
    PIDS_LIMIT,
    PORTS,
    PRIVILEGED,
    HOST_NETWORK,
    HOST_NAMESPACE,
    DOCKER_SOCKET,
    ROOT_USER,
    BACKEND_INTERNAL,
)

DEFAULT_MEMORY = "512m"
DEFAULT_PIDS = 256
NO_NEW_PRIVILEGES_OPTION = "no-new-privileges:true"

# Capabilities that hand a container the host (module loading, mounts, raw devices,
# other processes' memory, the network stack, any file by handle).
DANGEROUS_CAPABILITIES = frozenset(
    {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "NET_ADMIN", "DAC_READ_SEARCH"}
)
SOCKETS = frozenset({"docker.sock", "containerd.sock", "podman.sock"})
HOST_NAMESPACE_KEYS = ("pid", "ipc", "uts", "userns_mode")

_NO_NEW_PRIVILEGES = re.compile(r"no-new-privileges(?:[:=](\w+))?", re.IGNORECASE)
_UNCONFINED = re.compile(r"(?:seccomp|apparmor)[:=]unconfined|label[:=]disable", re.IGNORECASE)
_ROOT_USERS = frozenset({"root", "0"})


Fix = Callable[[], None]


def audit(text: str) -> list[Finding]:
    """Every finding in a compose file, in the order of the file."""
    findings = [finding for finding, _ in _findings(_load(text))]
    return sorted(findings, key=lambda finding: finding.line or 0)


def fix(text: str) -> str:
    """The file with every fixable finding fixed; the same text when there is none."""
    document = _load(text)
    fixes = [repair for _, repair in _findings(document) if repair is not None]
    if not fixes:
        return text
    for repair in fixes:
        repair()
    return _dump(document, text)


def is_compose(text: str) -> bool:
    """Whether YAML text looks like a compose file: a mapping with a ``services`` mapping."""
    try:
        document = _yaml(text).load(text)
    except (YAMLError, ValueError, RecursionError):
        return False
    return isinstance(document, dict) and isinstance(document.get("services"), dict)


# Loading and dumping


def _yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = _indentation(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _load(text: str) -> CommentedMap:
    try:
        document = _yaml(text).load(text)
    except YAMLError as exc:
        raise HardenError(f"not valid YAML: {_summary(exc)}") from exc
    except ValueError as exc:  # a scalar that resolves to an impossible value, e.g. 2021-13-45
        raise HardenError(f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise HardenError("not valid YAML: nested too deeply") from exc
    if document is None:
        document = CommentedMap()
    if not isinstance(document, CommentedMap):
        raise HardenError("not a compose file: the top level is not a mapping")
    return document


def _dump(document: CommentedMap, text: str) -> str:
    out = io.StringIO()
    _yaml(text).dump(document, out)
    return out.getvalue()


def _summary(exc: YAMLError) -> str:
    if isinstance(exc, MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return f"{exc.problem}{where}"
    return str(exc).splitlines()[0]


def _indentation(text: str) -> tuple[int, int, int]:
    """The file's mapping indent, block sequence indent and dash offset, to keep them."""
    mapping: int | None = None
    offset: int | None = None
    parent: int | None = None
    for line in text.splitlines():
        content = line.lstrip(" ")
        if not content.strip() or content.startswith("#"):
            continue
        indent = len(line) - len(content)
        if parent is not None and content.startswith("- ") and indent >= parent:
            offset = indent - parent if offset is None else offset
        elif parent is not None and indent > parent and mapping is None:
            mapping = indent - parent
        key_only = content.split(" #", 1)[0].rstrip().endswith(":")
        parent = indent if key_only and not content.startswith("- ") else None
    mapping = mapping or 2
    offset = mapping if offset is None else offset
    return mapping, offset + 2, offset


# Rules


def _findings(document: CommentedMap) -> Iterator[tuple[Finding, Fix | None]]:
    services = document.get("services")
    if isinstance(services, CommentedMap):
        for name, service in services.items():
            if isinstance(service, CommentedMap):
                yield from _service_findings(f"services.{name}", _line(services, name), service)
    networks = document.get("networks")
    if isinstance(networks, CommentedMap):
        yield from _network_findings(networks)


def _service_findings(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    checks = (
        _read_only,
        _cap_drop,
        _cap_add,
        _security_opt,
        _memory_limit,
        _pids_limit,
        _ports,
        _privileged,
        _host_namespaces,
        _docker_socket,
        _user,
    )
    for check in checks:
        yield from check(where, line, service)


def _read_only(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    value = service.get("read_only")
    if _is_true(value):
        return
    if value is None:
        yield (
            Finding(
                READ_ONLY, where, "root filesystem is writable; set read_only: true", line, True
            ),
            lambda: _append(service, "read_only", True),
        )
    else:
        yield (
            Finding(
                READ_ONLY,
                where,
                f"read_only: {_yaml_scalar(value)} leaves the root filesystem writable; "
                "make it true (with tmpfs: for the paths that need writing)",
                _line(service, "read_only", line),
            ),
            None,
        )


def _cap_drop(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    value = service.get("cap_drop")
    if isinstance(value, list) and "ALL" in _capabilities(value):
        return
    message = "capabilities are not dropped; set cap_drop: [ALL] and cap_add only what is needed"
    if value is None:
        yield (
            Finding(CAP_DROP, where, message, line, True),
            lambda: _append(service, "cap_drop", _flow_seq(["ALL"])),
        )
    elif isinstance(value, CommentedSeq):
        yield (
            Finding(CAP_DROP, where, message, _line(service, "cap_drop", line), True),
            lambda: _append_once(value, "ALL"),
        )
    else:
        yield Finding(CAP_DROP, where, message, _line(service, "cap_drop", line)), None


def _cap_add(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    value = service.get("cap_add")
    if not isinstance(value, list):
        return
    dangerous = sorted(_capabilities(value) & DANGEROUS_CAPABILITIES)
    if dangerous:
        yield (
            Finding(
                CAP_ADD,
                where,
                f"cap_add grants {', '.join(dangerous)}, enough to escape to the host",
                _line(service, "cap_add", line),
            ),
            None,
        )


def _security_opt(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    value = service.get("security_opt")
    options = [str(option) for option in value] if isinstance(value, list) else []
    at = _line(service, "security_opt", line)
    for option in options:
        if _UNCONFINED.fullmatch(option.strip()):
            yield (
                Finding(UNCONFINED, where, f"security_opt {option} turns a confinement off", at),
                None,
            )
    settings = [
        match.group(1) for match in map(_NO_NEW_PRIVILEGES.fullmatch, options) if match is not None
    ]
    if settings and all(setting is None or setting.lower() == "true" for setting in settings):
        return
    if settings:
        yield (
            Finding(NO_NEW_PRIVILEGES, where, "security_opt turns no-new-privileges off", at),
            None,
        )
        return
    message = (
        f"processes may gain privileges (setuid); add security_opt: [{NO_NEW_PRIVILEGES_OPTION}]"
    )
    if value is None:
        yield (
            Finding(NO_NEW_PRIVILEGES, where, message, line, True),
            lambda: _append(service, "security_opt", _flow_seq([NO_NEW_PRIVILEGES_OPTION])),
        )
    elif isinstance(value, CommentedSeq):
        yield (
            Finding(NO_NEW_PRIVILEGES, where, message, at, True),
            lambda: _append_once(value, NO_NEW_PRIVILEGES_OPTION),
        )
    else:
        yield Finding(NO_NEW_PRIVILEGES, where, message, at), None


def _memory_limit(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    yield from _limit(
        where,
        line,
        service,
        rule=MEMORY_LIMIT,
        key="mem_limit",
        deploy_key="memory",
        default=DEFAULT_MEMORY,
        what="memory",
    )


def _pids_limit(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    yield from _limit(
        where,
        line,
        service,
        rule=PIDS_LIMIT,
        key="pids_limit",
        deploy_key="pids",
        default=DEFAULT_PIDS,
        what="process count",
    )


def _limit(
    where: str,
    line: int | None,
    service: CommentedMap,
    *,
    rule: str,
    key: str,
    deploy_key: str,
    default: str | int,
    what: str,
) -> Iterator[tuple[Finding, Fix | None]]:
    """A limit set as ``key`` or as ``deploy.resources.limits.<deploy_key>``."""
    limits = _deploy_limits(service)
    values = [service.get(key), limits.get(deploy_key) if limits is not None else None]
    if any(_is_limit(value) for value in values):
        return
    if any(value is not None for value in values):
        yield (
            Finding(rule, where, f"the {what} limit is switched off", _line(service, key, line)),
            None,
        )
        return
    message = f"no {what} limit; set {key} (or deploy.resources.limits.{deploy_key})"
    # A service that already has deploy limits gets the new one among them.
    target, target_key = (limits, deploy_key) if limits is not None else (service, key)
    yield Finding(rule, where, message, line, True), lambda: _append(target, target_key, default)


def _ports(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    published = service.get("ports")
    if not isinstance(published, CommentedSeq):
        return
    for index, item in enumerate(published):
        at = _item_line(published, index, line)
        item_where = f"{where}.ports[{index}]"
        if isinstance(item, CommentedMap):
            yield from _long_port(item_where, at, item)
        elif isinstance(item, str | int):
            yield from _short_port(item_where, at, published, index)


def _short_port(
    where: str, line: int | None, published: CommentedSeq, index: int
) -> Iterator[tuple[Finding, Fix | None]]:
    text = str(published[index])
    try:
        spec = ports.parse(text)
    except ValueError:
        yield Finding(PORTS, where, f"{text!r} is not a port mapping", line), None
        return
    exposure = spec.exposure
    if exposure is ports.Exposure.LOOPBACK:
        return
    if exposure is ports.Exposure.EVERY_INTERFACE:
        rewritten = spec.on_loopback()
        yield (
            Finding(
                PORTS,
                where,
                f"{text!r} publishes on every interface; bind it as {str(rewritten)!r}",
                line,
                True,
            ),
            lambda: published.__setitem__(index, _quoted_like(published[index], str(rewritten))),
        )
    else:
        yield Finding(PORTS, where, _not_loopback(text, exposure), line), None


def _long_port(
    where: str, line: int | None, item: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    host_ip = item.get("host_ip")
    exposure = ports.exposure_of(None if host_ip is None else str(host_ip))
    if exposure is ports.Exposure.LOOPBACK:
        return
    if host_ip is None:
        yield (
            Finding(
                PORTS,
                where,
                f"no host_ip publishes on every interface; set host_ip: {ports.LOOPBACK}",
                line,
                True,
            ),
            lambda: _append(item, "host_ip", DoubleQuotedScalarString(ports.LOOPBACK)),
        )
    elif exposure is ports.Exposure.EVERY_INTERFACE:
        yield (
            Finding(
                PORTS,
                where,
                f"host_ip {host_ip!r} publishes on every interface; set it to {ports.LOOPBACK}",
                line,
                True,
            ),
            lambda: item.__setitem__("host_ip", _quoted_like(host_ip, ports.LOOPBACK)),
        )
    else:
        yield Finding(PORTS, where, _not_loopback(f"host_ip {host_ip!r}", exposure), line), None


def _not_loopback(what: str, exposure: ports.Exposure) -> str:
    if exposure is ports.Exposure.UNKNOWN:
        return f"{what}: the host address cannot be verified; bind to {ports.LOOPBACK} literally"
    return f"{what} publishes beyond loopback; bind to {ports.LOOPBACK}"


def _privileged(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    if _is_true(service.get("privileged")):
        yield (
            Finding(
                PRIVILEGED,
                where,
                "privileged: true gives the container every capability and all devices",
                _line(service, "privileged", line),
            ),
            None,
        )


def _host_namespaces(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    if str(service.get("network_mode", "")).lower() == "host":
        yield (
            Finding(
                HOST_NETWORK,
                where,
                "network_mode: host shares the host's network stack and bypasses published ports",
                _line(service, "network_mode", line),
            ),
            None,
        )
    for key in HOST_NAMESPACE_KEYS:
        if str(service.get(key, "")).lower() == "host":
            yield (
                Finding(
                    HOST_NAMESPACE,
                    where,
                    f"{key}: host shares a namespace of the host",
                    _line(service, key, line),
                ),
                None,
            )


def _docker_socket(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    volumes = service.get("volumes")
    if not isinstance(volumes, list):
        return
    for index, volume in enumerate(volumes):
        if isinstance(volume, dict):
            source = str(volume.get("source", ""))
        else:
            source = str(volume).split(":", 1)[0]
        if PurePosixPath(source).name in SOCKETS:
            at = _item_line(volumes, index, line) if isinstance(volumes, CommentedSeq) else line
            yield (
                Finding(
                    DOCKER_SOCKET,
                    f"{where}.volumes[{index}]",
                    f"mounts {source}: control of the container engine is root on the host",
                    at,
                ),
                None,
            )


def _user(
    where: str, line: int | None, service: CommentedMap
) -> Iterator[tuple[Finding, Fix | None]]:
    value = service.get("user")
    if value is not None and str(value).split(":", 1)[0].strip() in _ROOT_USERS:
        yield (
            Finding(
                ROOT_USER,
                where,
                f"user {value} runs as root; use a numeric non-root user",
                _line(service, "user", line),
            ),
            None,
        )


def _network_findings(networks: CommentedMap) -> Iterator[tuple[Finding, Fix | None]]:
    """A network named like ``backend`` must be internal: no route out of the host."""
    for key, network in networks.items():
        settings = network if isinstance(network, dict) else {}
        names = f"{key} {settings.get('name', '')}".lower()
        if "backend" not in names or _is_true(settings.get("external")):
            continue
        if not _is_true(settings.get("internal")):
            yield (
                Finding(
                    BACKEND_INTERNAL,
                    f"networks.{key}",
                    "a backend network should be internal: true (no way out to the internet)",
                    _line(networks, key),
                ),
                None,
            )


# Helpers


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _yaml_scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _is_limit(value: Any) -> bool:
    """A value that limits: not missing, and not 0 or -1 (unlimited)."""
    if value is None or isinstance(value, bool):
        return False
    return str(value).strip() not in {"", "0", "-1"}


def _capabilities(values: list[Any]) -> set[str]:
    return {str(value).strip().upper().removeprefix("CAP_") for value in values}


def _deploy_limits(service: CommentedMap) -> CommentedMap | None:
    deploy = service.get("deploy")
    resources = deploy.get("resources") if isinstance(deploy, dict) else None
    limits = resources.get("limits") if isinstance(resources, dict) else None
    return limits if isinstance(limits, CommentedMap) else None


def _flow_seq(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _quoted_like(original: Any, text: str) -> str:
    """``text`` quoted as ``original`` was, and double-quoted when it was not a string."""
    style = (
        SingleQuotedScalarString
        if isinstance(original, SingleQuotedScalarString)
        else DoubleQuotedScalarString
    )
    quoted: str = style(text)
    return quoted


def _line(mapping: CommentedMap, key: Any, default: int | None = None) -> int | None:
    """The 1-based line of ``key``; keys merged in from an anchor have none of their own."""
    try:
        position: tuple[int, int] | None = mapping.lc.key(key)
    except KeyError:
        return default
    return default if position is None else position[0] + 1


def _item_line(seq: CommentedSeq, index: int, default: int | None) -> int | None:
    try:
        position: tuple[int, int] | None = seq.lc.item(index)
    except KeyError:
        return default
    return default if position is None else position[0] + 1


# Appending without stranding comments
#
# ruamel keeps the comment lines and blank lines that follow a block on the last
# scalar inside it. A key appended to the block would land after them, separated
# from its block (often visually inside the next one), so the trailing part is
# moved onto whatever is appended.


def _append(node: CommentedMap | CommentedSeq, key: Any, value: Any) -> None:
    trailing = _detach_trailing(node)
    if isinstance(node, CommentedMap):
        node[key] = value
        slot: tuple[Any, int] = (key, 2)
    else:
        node.append(value)
        slot = (len(node) - 1, 0)
    if trailing:
        entry: list[Any] = [None, None, None, None] if slot[1] == 2 else [None, None]
        entry[slot[1]] = CommentToken("\n" + trailing, CommentMark(0), None)
        node.ca.items[slot[0]] = entry


def _append_once(seq: CommentedSeq, item: str) -> None:
    """Append unless present: services merging one anchor share the same list."""
    if item not in seq:
        _append(seq, None, item)


def _last(node: CommentedMap | CommentedSeq) -> Any:
    if isinstance(node, CommentedMap):
        keys = [key for key, _ in node.non_merged_items()]
        return keys[-1] if keys else None
    return len(node) - 1 if len(node) else None


def _detach_trailing(node: CommentedMap | CommentedSeq) -> str:
    """Remove and return the lines after the end-of-line comment of the block's last scalar."""
    last = _last(node)
    if last is None:
        return ""
    value = node[last]
    if isinstance(value, CommentedMap | CommentedSeq):
        trailing = _detach_trailing(value)
        if trailing:
            return trailing
    entry = node.ca.items.get(last)
    index = 2 if isinstance(node, CommentedMap) else 0
    token = entry[index] if entry and len(entry) > index else None
    if not isinstance(token, CommentToken):
        return ""
    head, newline, tail = str(token.value).partition("\n")
    if not tail:
        return ""
    token.value = head + newline
    return tail
