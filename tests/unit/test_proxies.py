"""X-Forwarded-* headers count only when a trusted proxy sends them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import Client

from skills_service.security.proxies import TrustedProxies, parse_hop

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

INGRESS = ("10.0.0.0/8", "fd00::/8")


def seen_by_app(
    remote_addr: str, headers: dict[str, str], networks: Iterable[str] = INGRESS
) -> dict[str, Any]:
    """The WSGI environ the app behind the middleware receives."""
    seen: dict[str, Any] = {}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    Client(TrustedProxies(app, networks)).get(
        "/", headers=headers, environ_base={"REMOTE_ADDR": remote_addr}
    )
    return seen


def client_of(remote_addr: str, forwarded_for: str, networks: Iterable[str] = INGRESS) -> str:
    address: str = seen_by_app(remote_addr, {"X-Forwarded-For": forwarded_for}, networks)[
        "REMOTE_ADDR"
    ]
    return address


SPOOFING = {
    "X-Forwarded-For": "10.0.0.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "admin.example.org",
}


def test_a_client_cannot_choose_its_address_scheme_or_host_from_an_untrusted_address() -> None:
    environ = seen_by_app("203.0.113.7", SPOOFING)
    assert environ["REMOTE_ADDR"] == "203.0.113.7"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_HOST"] == "localhost"


def test_without_trusted_proxies_forwarded_headers_are_never_applied() -> None:
    environ = seen_by_app("10.0.0.1", SPOOFING, networks=())
    assert environ["REMOTE_ADDR"] == "10.0.0.1"
    assert environ["wsgi.url_scheme"] == "http"


def test_behind_a_trusted_proxy_the_client_is_the_address_it_reports() -> None:
    assert client_of("10.0.0.1", "203.0.113.7") == "203.0.113.7"


def test_hops_a_client_writes_to_the_left_of_its_own_address_are_ignored() -> None:
    assert client_of("10.0.0.1", "10.0.0.9, 198.51.100.1, 203.0.113.7") == "203.0.113.7"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() -> None:
    chain = "198.51.100.1, 203.0.113.7, 10.1.0.3, 10.2.0.4"
    assert client_of("10.0.0.1", chain) == "203.0.113.7"


def test_a_client_cannot_pass_for_a_trusted_proxy_by_writing_its_address() -> None:
    assert client_of("10.0.0.1", "10.0.0.5, 203.0.113.7, 10.0.0.6") == "203.0.113.7"


def test_when_every_hop_is_a_trusted_proxy_the_left_most_is_the_client() -> None:
    assert client_of("10.0.0.1", "10.0.0.5, 10.0.0.6") == "10.0.0.5"


def test_ipv6_peers_networks_and_hops() -> None:
    assert client_of("fd00::1", "2001:db8::7, [fd00::2]:443") == "2001:db8::7"
    assert client_of("2001:db8::1", "198.51.100.1") == "2001:db8::1"


def test_an_ipv4_mapped_peer_is_trusted_as_its_ipv4_address() -> None:
    assert client_of("::ffff:10.0.0.1", "203.0.113.7") == "203.0.113.7"


def test_hops_may_carry_ports() -> None:
    assert client_of("10.0.0.1", "203.0.113.7:51234, 10.0.0.2:443") == "203.0.113.7"


@pytest.mark.parametrize(
    "garbage",
    ["", "unknown", "_hidden", "999.1.1.1", "1.2.3.4.5", "[::1", "<script>", "203.0.113.7 x"],
)
def test_a_hop_that_is_not_an_address_ends_the_walk_at_the_last_trusted_proxy(
    garbage: str,
) -> None:
    assert client_of("10.0.0.1", garbage) == "10.0.0.1"
    assert client_of("10.0.0.1", f"203.0.113.7, {garbage}, 10.0.0.2") == "10.0.0.2"


def test_a_trusted_proxy_sets_scheme_and_host() -> None:
    environ = seen_by_app(
        "10.0.0.1", {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "skills.example.org"}
    )
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "skills.example.org"


def test_the_nearest_proxys_scheme_and_host_win() -> None:
    environ = seen_by_app(
        "10.0.0.1",
        {
            "X-Forwarded-Proto": "http, HTTPS",
            "X-Forwarded-Host": "evil.example, skills.example.org",
        },
    )
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "skills.example.org"


@pytest.mark.parametrize("scheme", ["ftp", "javascript", "https;", ""])
def test_a_scheme_other_than_http_or_https_is_ignored(scheme: str) -> None:
    assert seen_by_app("10.0.0.1", {"X-Forwarded-Proto": scheme})["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize(
    "host", ["evil.example/path", "a b", "user@evil.example", "-lead.example", "x:99999999", ""]
)
def test_a_host_that_is_not_a_host_name_is_ignored(host: str) -> None:
    assert seen_by_app("10.0.0.1", {"X-Forwarded-Host": host})["HTTP_HOST"] == "localhost"


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7:8080 ", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_hops_are_read_as_addresses(hop: str, address: str) -> None:
    assert str(parse_hop(hop)) == address
