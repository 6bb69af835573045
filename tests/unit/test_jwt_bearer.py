"""OIDC access tokens: only a token signed by the issuer's published key, for us, now.

A real discovery + JWKS server runs on 127.0.0.1 for each test and counts the
requests it answers, so the refresh rules are checked on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from skills_service.auth.jwt_bearer import (
    JwksCache,
    require_fetchable_url,
    verify_access_token,
)
from skills_service.errors import InvalidCredentials
from skills_service.services.identities import identity_from_claims

AUDIENCE = "skills-api"
MIN_REFRESH = 60.0
TTL = 900.0


class FakeProvider:
    """What the little identity provider serves, and how often it was asked."""

    def __init__(self) -> None:
        self.issuer = ""
        self.claimed_issuer: str | None = None
        self.jwks: dict[str, Any] = {"keys": []}
        self.discovery_requests = 0
        self.jwks_requests = 0

    def discovery(self) -> dict[str, Any]:
        self.discovery_requests += 1
        return {
            "issuer": self.claimed_issuer or self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
        }

    def key_set(self) -> dict[str, Any]:
        self.jwks_requests += 1
        return self.jwks


def _handler_for(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                document = provider.discovery()
            elif self.path == "/jwks":
                document = provider.key_set()
            else:
                self.send_error(404)
                return
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture(scope="module")
def outsider_key() -> ECKey:
    """A key the provider never publishes (or publishes only after a rotation)."""
    return ECKey.generate_key("P-256", parameters={"kid": "ec-rotated"})


@pytest.fixture
def provider(rsa_key: RSAKey, ec_key: ECKey) -> Iterator[FakeProvider]:
    state = FakeProvider()
    state.jwks = {"keys": [rsa_key.as_dict(private=False), ec_key.as_dict(private=False)]}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(provider: FakeProvider, clock: Clock) -> JwksCache:
    return JwksCache(provider.issuer, ttl=TTL, min_refresh_interval=MIN_REFRESH, now=clock)


def claims_for(provider: FakeProvider, **changes: Any) -> dict[str, Any]:
    """Valid claims; a change to None removes that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "email": "ada@example.com",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(key: RSAKey | ECKey, claims: dict[str, Any], alg: str, kid: str | None = None) -> str:
    header = {"alg": alg, "kid": kid if kid is not None else key.kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def verify(token: str, cache: JwksCache, provider: FakeProvider) -> dict[str, Any]:
    return verify_access_token(token, jwks=cache, issuer=provider.issuer, audience=AUDIENCE)


def assert_rejected(token: str, cache: JwksCache, provider: FakeProvider) -> None:
    with pytest.raises(InvalidCredentials) as raised:
        verify(token, cache, provider)
    assert raised.value.detail == InvalidCredentials.DETAIL
    assert str(raised.value) == InvalidCredentials.DETAIL
    if token:
        assert token not in str(raised.value)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(("alg", "key_name"), [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec")])
def test_valid_token_verifies_and_returns_claims(
    alg: str,
    key_name: str,
    rsa_key: RSAKey,
    ec_key: ECKey,
    cache: JwksCache,
    provider: FakeProvider,
) -> None:
    key = rsa_key if key_name == "rsa" else ec_key
    claims = claims_for(provider)
    assert verify(sign(key, claims, alg), cache, provider) == claims


def test_audience_list_containing_ours_is_accepted(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    claims = claims_for(provider, aud=["other-api", AUDIENCE])
    assert verify(sign(rsa_key, claims, "RS256"), cache, provider)["aud"] == ["other-api", AUDIENCE]


@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
def test_alg_none_is_rejected(signature: str, cache: JwksCache, provider: FakeProvider) -> None:
    header = b64url_json({"alg": "none", "kid": "rsa-1", "typ": "JWT"})
    token = f"{header}.{b64url_json(claims_for(provider))}.{signature}"
    assert_rejected(token, cache, provider)


def test_hs256_signed_with_the_rsa_public_key_as_secret_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    header = b64url_json({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"})
    signing_input = f"{header}.{b64url_json(claims_for(provider))}"
    secret = rsa_key.as_pem(private=False)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert_rejected(f"{signing_input}.{b64url(mac)}", cache, provider)


def test_wrong_audience_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    for aud in ("other-api", ["other-api", "third-api"], []):
        assert_rejected(sign(rsa_key, claims_for(provider, aud=aud), "RS256"), cache, provider)


def test_missing_audience_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    assert_rejected(sign(rsa_key, claims_for(provider, aud=None), "RS256"), cache, provider)


def test_wrong_issuer_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    for iss in ("https://evil.example", provider.issuer + "/", None):
        assert_rejected(sign(rsa_key, claims_for(provider, iss=iss), "RS256"), cache, provider)


def test_expired_token_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    past = int(time.time()) - 120
    token = sign(rsa_key, claims_for(provider, exp=past, iat=past - 300), "RS256")
    assert_rejected(token, cache, provider)


def test_token_expired_within_leeway_is_accepted(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    token = sign(rsa_key, claims_for(provider, exp=int(time.time()) - 5), "RS256")
    assert verify(token, cache, provider)["sub"] == "user-1"


def test_token_not_yet_valid_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    future = int(time.time()) + 600
    token = sign(rsa_key, claims_for(provider, nbf=future, exp=future + 300), "RS256")
    assert_rejected(token, cache, provider)


def test_token_issued_in_the_future_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    future = int(time.time()) + 3600
    token = sign(rsa_key, claims_for(provider, iat=future, exp=future + 300), "RS256")
    assert_rejected(token, cache, provider)


def test_token_without_exp_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    assert_rejected(sign(rsa_key, claims_for(provider, exp=None), "RS256"), cache, provider)


def test_token_without_sub_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    for sub in (None, ""):
        assert_rejected(sign(rsa_key, claims_for(provider, sub=sub), "RS256"), cache, provider)


def test_tampered_payload_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    header, _payload, signature = sign(rsa_key, claims_for(provider), "RS256").split(".")
    forged = b64url_json(claims_for(provider, sub="admin"))
    assert_rejected(f"{header}.{forged}.{signature}", cache, provider)


def test_unknown_kid_triggers_exactly_one_refresh_then_rejects(
    rsa_key: RSAKey,
    outsider_key: ECKey,
    cache: JwksCache,
    provider: FakeProvider,
    clock: Clock,
) -> None:
    verify(sign(rsa_key, claims_for(provider), "RS256"), cache, provider)
    assert provider.jwks_requests == 1
    clock.advance(MIN_REFRESH + 1)
    assert_rejected(sign(outsider_key, claims_for(provider), "ES256"), cache, provider)
    assert provider.jwks_requests == 2


def test_second_unknown_kid_within_min_refresh_interval_does_not_refetch(
    rsa_key: RSAKey,
    outsider_key: ECKey,
    cache: JwksCache,
    provider: FakeProvider,
    clock: Clock,
) -> None:
    verify(sign(rsa_key, claims_for(provider), "RS256"), cache, provider)
    clock.advance(MIN_REFRESH + 1)
    assert_rejected(sign(outsider_key, claims_for(provider), "ES256", "random-1"), cache, provider)
    assert provider.jwks_requests == 2
    clock.advance(MIN_REFRESH - 1)
    for attempt in range(20):
        token = sign(outsider_key, claims_for(provider), "ES256", f"random-{attempt + 2}")
        assert_rejected(token, cache, provider)
    assert provider.jwks_requests == 2
    assert provider.discovery_requests == 2


def test_concurrent_flood_of_unknown_kids_fetches_once(
    rsa_key: RSAKey,
    outsider_key: ECKey,
    cache: JwksCache,
    provider: FakeProvider,
    clock: Clock,
) -> None:
    verify(sign(rsa_key, claims_for(provider), "RS256"), cache, provider)
    clock.advance(MIN_REFRESH + 1)
    tokens = [sign(outsider_key, claims_for(provider), "ES256", f"flood-{n}") for n in range(32)]

    def rejected(token: str) -> bool:
        try:
            verify(token, cache, provider)
        except InvalidCredentials:
            return True
        return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(rejected, tokens))
    assert provider.jwks_requests == 2


def test_rotated_in_key_is_accepted_after_refresh(
    rsa_key: RSAKey,
    outsider_key: ECKey,
    cache: JwksCache,
    provider: FakeProvider,
    clock: Clock,
) -> None:
    verify(sign(rsa_key, claims_for(provider), "RS256"), cache, provider)
    provider.jwks = {"keys": [outsider_key.as_dict(private=False)]}
    clock.advance(MIN_REFRESH + 1)
    claims = claims_for(provider, sub="user-2")
    assert verify(sign(outsider_key, claims, "ES256"), cache, provider) == claims
    assert provider.jwks_requests == 2


def test_keys_are_cached_until_the_ttl_then_refetched(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider, clock: Clock
) -> None:
    token = sign(rsa_key, claims_for(provider), "RS256")
    for _ in range(5):
        verify(token, cache, provider)
    assert provider.jwks_requests == 1
    clock.advance(TTL + 1)
    verify(token, cache, provider)
    assert provider.jwks_requests == 2


def test_stale_keys_stay_usable_when_the_refresh_fails(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider, clock: Clock
) -> None:
    token = sign(rsa_key, claims_for(provider), "RS256")
    verify(token, cache, provider)
    provider.claimed_issuer = "https://somebody-else.example"
    clock.advance(TTL + 1)
    assert verify(token, cache, provider)["sub"] == "user-1"
    assert provider.jwks_requests == 1


def test_oversized_token_is_rejected_before_any_fetch(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    token = sign(rsa_key, claims_for(provider, padding="x" * 9000), "RS256")
    assert len(token) > 8192
    assert_rejected(token, cache, provider)
    assert provider.discovery_requests == 0


GARBAGE = {
    "empty": "",
    "two-parts": "a.b",
    "dots": "...",
    "undecodable": "a.b.c",
    "five-parts": "a.b.c.d.e",
    "header-not-object": "W10.e30.AA",
    "alg-not-text": "eyJhbGciOjF9.e30.AA",
    "random-bytes": random.Random(7).randbytes(64).decode("latin-1"),
    "random-base64": base64.b64encode(random.Random(8).randbytes(96)).decode(),
    "nul-bytes": "\x00" * 16,
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_rejected_without_any_fetch(
    garbage: str, cache: JwksCache, provider: FakeProvider
) -> None:
    assert_rejected(garbage, cache, provider)
    assert provider.discovery_requests == 0


def test_discovery_naming_another_issuer_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    provider.claimed_issuer = "https://evil.example"
    assert_rejected(sign(rsa_key, claims_for(provider), "RS256"), cache, provider)
    assert provider.discovery_requests == 1
    assert provider.jwks_requests == 0


def test_oversized_jwks_is_refused(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    provider.jwks = {**provider.jwks, "padding": "x" * 300_000}
    assert_rejected(sign(rsa_key, claims_for(provider), "RS256"), cache, provider)
    assert provider.jwks_requests == 1


def test_rsa_key_with_es256_header_is_rejected(
    ec_key: ECKey, cache: JwksCache, provider: FakeProvider
) -> None:
    assert_rejected(sign(ec_key, claims_for(provider), "ES256", kid="rsa-1"), cache, provider)


def test_ec_key_with_rs256_header_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    assert_rejected(sign(rsa_key, claims_for(provider), "RS256", kid="ec-1"), cache, provider)


def test_token_without_kid_is_rejected(
    rsa_key: RSAKey, cache: JwksCache, provider: FakeProvider
) -> None:
    token = jwt.encode({"alg": "RS256"}, claims_for(provider), rsa_key, algorithms=["RS256"])
    assert_rejected(token, cache, provider)


def test_rejection_is_logged_without_the_token(
    rsa_key: RSAKey,
    cache: JwksCache,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = sign(rsa_key, claims_for(provider, aud="other-api"), "RS256")
    with caplog.at_level(logging.INFO, logger="skills_service.auth.jwt_bearer"):
        assert_rejected(token, cache, provider)
    rejected = [
        record for record in caplog.records if record.getMessage() == "access token rejected"
    ]
    assert len(rejected) == 1
    assert "aud" in vars(rejected[0])["reason"]
    for record in caplog.records:
        assert token not in record.getMessage()
        assert all(token not in str(value) for value in vars(record).values())


def test_plain_http_is_refused_unless_loopback() -> None:
    for url in ("http://idp.example", "ftp://idp.example", "https://", "idp.example"):
        with pytest.raises(ValueError):
            require_fetchable_url(url)
    for url in ("https://idp.example/realms/x", "http://127.0.0.1:8080", "http://[::1]:1"):
        require_fetchable_url(url)
    with pytest.raises(ValueError):
        JwksCache("http://idp.example")


@pytest.mark.parametrize(
    ("raw", "verified"),
    [(True, True), ("true", False), (1, False), (False, False), (None, False)],
)
def test_identity_from_claims_counts_only_a_true_email_verified(raw: Any, verified: bool) -> None:
    claims = {"iss": "https://idp.example", "sub": "s-1", "email": "a@example.com"}
    if raw is not None:
        claims["email_verified"] = raw
    assert identity_from_claims(claims, role_claim="groups").email_verified is verified


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        (["skills-admins", "staff"], ("skills-admins", "staff")),
        ("skills-admins", ("skills-admins",)),
        (None, ()),
    ],
)
def test_identity_from_claims_reads_the_role_claim_as_list_or_string(
    raw: Any, values: tuple[str, ...]
) -> None:
    claims = {"iss": "https://idp.example", "sub": "s-1", "roles": raw, "groups": ["ignored"]}
    identity = identity_from_claims(claims, role_claim="roles")
    assert identity.claim_values == values


def test_identity_from_claims_maps_issuer_subject_email_and_name() -> None:
    identity = identity_from_claims(
        {
            "iss": "https://idp.example",
            "sub": "s-1",
            "email": "ada@example.com",
            "email_verified": True,
            "preferred_username": "ada",
        },
        role_claim="groups",
    )
    assert (identity.issuer, identity.subject, identity.email, identity.name) == (
        "https://idp.example",
        "s-1",
        "ada@example.com",
        "ada",
    )
    assert identity.claim_values == ()
