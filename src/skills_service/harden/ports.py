"""Published ports in compose's short syntax, parsed the way Docker parses them.

``[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]``: the last ``:``-separated part
is the container port, the one before it the host port, and everything before
that the host address (IPv6 with or without brackets). Without an address Docker
publishes on every interface, so ``"15000:5000"`` and a bare ``"5000"`` are as
exposed as ``"0.0.0.0:80:80"`` or ``"[::]:80:80"``.

``${VAR}`` interpolations may themselves hold colons (``${PORT:-8000}``); they are
set aside while the parts are split and put back afterwards.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, replace

LOOPBACK = "127.0.0.1"

_INTERPOLATION = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_PORT_OR_RANGE = re.compile(r"\d+(?:-\d+)?")
PROTOCOLS = frozenset({"tcp", "udp", "sctp"})


class Exposure(enum.Enum):
    LOOPBACK = "loopback"
    EVERY_INTERFACE = "every interface"
    OTHER_ADDRESS = "another address"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PortSpec:
    """A parsed short-syntax port; ``None`` parts were not given."""

    host_ip: str | None
    host_port: str | None
    container_port: str
    protocol: str | None = None

    def __str__(self) -> str:
        text = self.container_port
        if self.host_ip is not None:
            address = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
            text = f"{address}:{self.host_port or ''}:{text}"
        elif self.host_port is not None:
            text = f"{self.host_port}:{text}"
        return f"{text}/{self.protocol}" if self.protocol is not None else text

    @property
    def exposure(self) -> Exposure:
        if self.host_ip is None and self.host_port is None and "$" in self.container_port:
            # A whole mapping in one variable ("${APP_PORTS}") may carry any address.
            return Exposure.UNKNOWN
        return exposure_of(self.host_ip)

    def on_loopback(self) -> PortSpec:
        """The same mapping published on 127.0.0.1 only."""
        return replace(self, host_ip=LOOPBACK)


def exposure_of(host_ip: str | None) -> Exposure:
    """Where a host address publishes: ``None`` or empty means every interface."""
    if not host_ip:
        return Exposure.EVERY_INTERFACE
    if "$" in host_ip:
        return Exposure.UNKNOWN
    try:
        address = ipaddress.ip_address(host_ip.strip("[]"))
    except ValueError:
        return Exposure.UNKNOWN
    if address.is_unspecified:
        return Exposure.EVERY_INTERFACE
    return Exposure.LOOPBACK if address.is_loopback else Exposure.OTHER_ADDRESS


def parse(spec: str) -> PortSpec:
    """Parse a short-syntax port; ``ValueError`` when it is not one."""
    interpolations: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        interpolations.append(match.group(0))
        return f"\x00{len(interpolations) - 1}\x00"

    def restore(text: str) -> str:
        return _PLACEHOLDER.sub(lambda match: interpolations[int(match.group(1))], text)

    masked = _INTERPOLATION.sub(set_aside, spec.strip())
    mapping, slash, protocol = masked.partition("/")
    parts = mapping.split(":")
    container_port = parts[-1]
    host_port = parts[-2] if len(parts) >= 2 else None
    host_ip = ":".join(parts[:-2]) if len(parts) >= 3 else None
    if host_ip is not None and host_ip.startswith("[") and host_ip.endswith("]"):
        host_ip = host_ip[1:-1]
    if not _is_port(container_port) or (host_port and not _is_port(host_port)):
        raise ValueError(f"{spec!r} is not a port mapping")
    if slash and protocol.lower() not in PROTOCOLS and not _PLACEHOLDER.fullmatch(protocol):
        raise ValueError(f"{spec!r} has an unknown protocol")
    return PortSpec(
        host_ip=restore(host_ip) if host_ip is not None else None,
        host_port=restore(host_port) if host_port is not None else None,
        container_port=restore(container_port),
        protocol=restore(protocol) if slash else None,
    )


def _is_port(part: str) -> bool:
    """A port, a range of ports, or a variable standing for one."""
    return bool(_PORT_OR_RANGE.fullmatch(part) or _PLACEHOLDER.fullmatch(part))
