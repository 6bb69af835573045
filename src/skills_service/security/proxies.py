"""Reverse-proxy headers, believed only from the networks in ``SKILLS_TRUSTED_PROXIES``.

Behind an ingress the peer of every request is the ingress; the client's address,
scheme and host arrive in ``X-Forwarded-For``, ``X-Forwarded-Proto`` and
``X-Forwarded-Host``. Anyone can send those headers, so they are applied only when
the peer is in a trusted network. Each proxy appends the address of its own peer to
``X-Forwarded-For``, so the client is the right-most hop that is not a trusted proxy:
hops to its right were written by trusted proxies, hops to its left by the client.

Werkzeug's ``ProxyFix`` counts a fixed number of hops instead: it believes whoever
connects, which lets a client that reaches the app directly choose its address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = frozenset({"http", "https"})
HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
PEERS_REMEMBERED = 256
PORTED_HOP = re.compile(r"\[(?P<v6>[^\]]+)\](?::\d{1,5})?|(?P<v4>[0-9.]+):\d{1,5}")


def parse_hop(value: str) -> Address | None:
    """The address in one hop: ``203.0.113.7``, ``203.0.113.7:443``, ``2001:db8::7``
    or ``[2001:db8::7]:443``; None for anything else. An IPv4-mapped IPv6 address is
    taken as the IPv4 address it carries."""
    text = value.strip()
    ported = PORTED_HOP.fullmatch(text)
    if ported is not None:
        text = ported["v6"] or ported["v4"]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """WSGI middleware applying ``X-Forwarded-*`` only when the peer is a trusted proxy."""

    def __init__(self, app: WSGIApplication, networks: Iterable[str]) -> None:
        self.app = app
        self.networks = tuple(ipaddress.ip_network(network, strict=False) for network in networks)
        # A replica sees few peers (its ingress, probes): each is parsed and judged once.
        self.trusted_peer = lru_cache(maxsize=PEERS_REMEMBERED)(self._trusted_peer)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = self.trusted_peer(environ.get("REMOTE_ADDR", ""))
        if peer is not None:
            environ["REMOTE_ADDR"] = str(self.client(environ.get("HTTP_X_FORWARDED_FOR", ""), peer))
            scheme = _last(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
            if scheme in SCHEMES:
                environ["wsgi.url_scheme"] = scheme
            host = _last(environ.get("HTTP_X_FORWARDED_HOST", ""))
            if HOST.fullmatch(host):
                environ["HTTP_HOST"] = host
        return self.app(environ, start_response)

    def _trusted_peer(self, remote_addr: str) -> Address | None:
        """The peer's address when it is a trusted proxy, else None."""
        peer = parse_hop(remote_addr)
        return peer if peer is not None and self.trusts(peer) else None

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, forwarded_for: str, peer: Address) -> Address:
        """Walk ``X-Forwarded-For`` from the right past trusted proxies to the client.

        A hop that is not an address ends the walk, and the last trusted proxy before
        it stands for the client: nothing written to the left of it can be believed.
        """
        client = peer
        for hop in reversed(forwarded_for.split(",")):
            address = parse_hop(hop)
            if address is None:
                break
            client = address
            if not self.trusts(address):
                break
        return client


def _last(header: str) -> str:
    """The value the nearest proxy added to a comma-separated header."""
    return header.rpartition(",")[2].strip()


def init_app(app: Flask, networks: Iterable[str]) -> None:
    """Without trusted networks no header is believed, and the middleware is not needed."""
    trusted = tuple(networks)
    if trusted:
        app.wsgi_app = TrustedProxies(app.wsgi_app, trusted)  # type: ignore[method-assign]
