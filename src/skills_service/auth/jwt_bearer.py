"""OIDC access tokens (JWTs) as bearer credentials, checked against the issuer's JWKS.

The token's header is attacker-controlled, so nothing in it is trusted to choose
how the token is checked: the algorithm must be on an asymmetric allow-list and
fit the type of the key named by ``kid``, and that key comes only from the JWKS
published by the configured issuer (never from ``jwk``/``jku``/``x5u`` headers).
Every failure looks the same to the client; the reason goes to the log.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, KeySet, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from skills_service.errors import InvalidCredentials

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8192
MAX_DOCUMENT_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

# alg -> (key type, curves the key may be on; None when the type has no curve).
_KEY_FOR_ALGORITHM: Mapping[str, tuple[str, frozenset[str] | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),
}
#: Asymmetric only: ``none`` and HS* would let anyone holding the public key sign.
ALLOWED_ALGORITHMS = frozenset(_KEY_FOR_ALGORITHM)

# Three non-empty base64url segments: rejects JWE (five parts) and empty signatures
# before any decoding work is spent on them.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class JwksUnavailable(Exception):
    """The issuer's discovery document or key set could not be fetched or used."""


class _Rejected(Exception):
    """Internal: why a token was refused, for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require_fetchable_url(url: str) -> None:
    """Refuse plain HTTP except to loopback, so keys cannot be swapped in transit.

    Raises ``ValueError`` with a message naming the URL (never a secret).
    """
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return
    raise ValueError(f"{url!r} must use https (plain http only to loopback)")


class JwksCache:
    """The issuer's signing keys, discovered, fetched and cached.

    Keys are cached for ``ttl`` seconds. A token naming an unknown ``kid`` (say,
    just after the provider rotated its keys) triggers a refresh, but fetches are
    at least ``min_refresh_interval`` seconds apart, so a flood of tokens with
    random ``kid`` values costs the provider one request per interval at most.
    A failed refresh keeps the previous keys.
    """

    def __init__(
        self,
        issuer: str,
        *,
        ttl: float = 15 * 60,
        min_refresh_interval: float = 60,
        timeout: float = 3,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        require_fetchable_url(issuer)
        self.issuer = issuer
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._now = now
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        # _state guards the fields above and is never held across network IO;
        # _refreshing makes sure only one thread talks to the provider at a time.
        self._state = threading.Lock()
        self._refreshing = threading.Lock()

    def key_for(self, kid: str) -> Key | None:
        """The signing key named ``kid``, refreshing the set if it is stale or lacks it."""
        key, fresh = self._lookup(kid)
        if key is not None and fresh:
            return key
        if key is not None:
            # A stale but known key stays usable while another thread refreshes.
            if not self._refreshing.acquire(blocking=False):
                return key
        elif not self._refreshing.acquire(timeout=4 * self._timeout):
            return None
        try:
            key, fresh = self._lookup(kid)
            if (key is None or not fresh) and self._claim_refresh():
                self._refresh()
                key, _ = self._lookup(kid)
        finally:
            self._refreshing.release()
        return key

    def _lookup(self, kid: str) -> tuple[Key | None, bool]:
        with self._state:
            if self._keys is None:
                return None, False
            fresh = self._now() - self._fetched_at < self._ttl
            key = next((key for key in self._keys if key.kid == kid), None)
            return key, fresh

    def _claim_refresh(self) -> bool:
        """Record a fetch attempt now, unless the last one was too recent."""
        with self._state:
            now = self._now()
            last = self._last_attempt
            if last is not None and now - last < self._min_refresh_interval:
                return False
            self._last_attempt = now
            return True

    def _refresh(self) -> None:
        try:
            keys = self._download()
        except JwksUnavailable as exc:
            log.warning("JWKS refresh failed", extra={"reason": str(exc)})
            return
        with self._state:
            self._keys = keys
            self._fetched_at = self._now()

    def _download(self) -> KeySet:
        document = self._get_json(self.discovery_url)
        if document.get("issuer") != self.issuer:
            raise JwksUnavailable("the discovery document names a different issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise JwksUnavailable("the discovery document has no jwks_uri")
        try:
            require_fetchable_url(jwks_uri)
        except ValueError as exc:
            raise JwksUnavailable(f"jwks_uri refused: {exc}") from None
        published = self._get_json(jwks_uri).get("keys")
        if not isinstance(published, list):
            raise JwksUnavailable("the JWKS has no key list")
        keys = [key for key in map(_signing_key, published) if key is not None]
        if not keys:
            raise JwksUnavailable("the JWKS has no usable signing key")
        return KeySet(keys)

    def _get_json(self, url: str) -> dict[str, Any]:
        """GET a JSON object, bounded in time and size, without following redirects.

        Redirects are refused because one could lead to plain HTTP.
        """
        deadline = time.monotonic() + 2 * self._timeout
        body = bytearray()
        try:
            with requests.get(
                url,
                timeout=self._timeout,
                stream=True,
                allow_redirects=False,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    raise JwksUnavailable(f"{url} answered {response.status_code}")
                for chunk in response.iter_content(chunk_size=16384):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksUnavailable(f"{url} answered more than {self._max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise JwksUnavailable(f"{url} answered too slowly")
        except requests.RequestException as exc:
            raise JwksUnavailable(f"{url} is unreachable ({type(exc).__name__})") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise JwksUnavailable(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise JwksUnavailable(f"{url} did not answer a JSON object")
        return document


def _signing_key(data: object) -> Key | None:
    """One published JWK as a verification key, or None when it cannot be one.

    Keys are imported one by one so that a single odd entry (an encryption key, a
    symmetric key, a malformed one) does not take the whole set down with it.
    """
    if not isinstance(data, dict) or data.get("use", "sig") != "sig":
        return None
    if data.get("kty") not in {"RSA", "EC", "OKP"}:
        return None
    try:
        return JWKRegistry.import_key(data)
    except (JoseError, ValueError, TypeError, KeyError):
        return None


def _check_key_fits(key: Key, alg: str) -> None:
    """Pin the algorithm to the key: an RSA key never verifies an EC or HMAC signature."""
    key_type, curves = _KEY_FOR_ALGORITHM[alg]
    if key.key_type != key_type:
        raise _Rejected("the algorithm does not fit the key type")
    if key.alg is not None and key.alg != alg:
        raise _Rejected("the key is published for another algorithm")
    if isinstance(key, ECKey | OKPKey) and (curves is None or key.curve_name not in curves):
        raise _Rejected("the algorithm does not fit the key's curve")
    if isinstance(key, RSAKey) and key.public_key.key_size < MIN_RSA_BITS:
        raise _Rejected("the RSA key is too short")


def _verified_claims(
    token: str, *, jwks: JwksCache, issuer: str, audience: str, leeway: int
) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise _Rejected("oversized or not text")
    if not _COMPACT_JWS.fullmatch(token):
        raise _Rejected("not a compact JWS")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _Rejected(f"malformed ({type(exc).__name__})") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise _Rejected("algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _Rejected("no kid in the header")
    key = jwks.key_for(kid)
    if key is None:
        raise _Rejected("unknown kid")
    _check_key_fits(key, alg)
    # Unknown non-critical header parameters are ignored (RFC 7515 §4); crit is enforced.
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    try:
        claims = jwt.decode(token, key, algorithms=[alg], registry=registry).claims
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _Rejected(f"signature or payload ({type(exc).__name__})") from None
    required = JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    )
    try:
        # Also refuses an nbf or iat later than now + leeway when present.
        required.validate(claims)
    except JoseError as exc:
        raise _Rejected(f"claims ({exc.error}: {exc.description})") from None
    return dict(claims)


def verify_access_token(
    token: str, *, jwks: JwksCache, issuer: str, audience: str, leeway: int = 30
) -> dict[str, Any]:
    """The claims of a valid access token from ``issuer`` for ``audience``.

    Raises ``InvalidCredentials`` with one generic message for every failure, so
    the answer tells a caller nothing about which check failed; the reason is
    logged at INFO, without the token.
    """
    try:
        return _verified_claims(token, jwks=jwks, issuer=issuer, audience=audience, leeway=leeway)
    except _Rejected as exc:
        log.info("access token rejected", extra={"reason": exc.reason})
        raise InvalidCredentials() from None
