"""Security headers on every response, with a strict Content Security Policy.

Pages carry no inline script or style, so ``script-src`` and ``style-src`` are
``'self'`` plus a per-response nonce that a template may use (``csp_nonce()``).
A mounted front end that needs more registers it for its own paths with
``allow(...)``: the API docs (Swagger UI) and the dashboard (Plotly) set ``style``
attributes and inject ``<style>`` elements at run time, so there ``style-src``
also allows ``'unsafe-inline'``; Dash's one inline script is allowed by its hash.
``script-src`` never allows ``'unsafe-inline'``, anywhere.

Every response is ``Cache-Control: no-store`` (pages, API JSON, errors: whatever a
signed-in person or a token holder is shown stays out of browser and proxy caches),
except on routes declared cacheable with ``allow_caching(...)``: static assets, which
keep the caching headers their server sets.

Everything but the nonce is the same on every response, so it is worked out once per
app: the constant headers as one list, and each policy as the text around its nonce.
A response then costs one join and one ``extend`` (plus a removal, in the rare case
that a view set one of these headers itself).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask, Response, g, request

from skills_service import pipeline

HEADERS_KEY = "skills_service.security_headers"
CACHEABLE_KEY = "skills_service.cacheable_endpoints"
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
CSP = "Content-Security-Policy"
NO_STORE = ("Cache-Control", "no-store")
_NONCE_SLOT = "\0"
"""Stands for the nonce while a policy is rendered once; no directive contains it."""


@dataclass(frozen=True)
class PathException:
    """What the policy also allows under one path prefix, for a mounted front end."""

    prefix: str
    script_hashes: tuple[str, ...] = ()
    inline_styles: bool = False


def content_security_policy(
    nonce: str, *, inline_styles: bool, script_hashes: Sequence[str] = ()
) -> str:
    style_src = "'self' 'unsafe-inline'" if inline_styles else f"'self' 'nonce-{nonce}'"
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", f"'nonce-{nonce}'", *script_hashes]),
        "style-src": style_src,
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _policy_around_nonce(exceptions: Sequence[PathException]) -> tuple[str, ...]:
    """The policy for paths under ``exceptions``, as the parts that the nonce joins."""
    policy = content_security_policy(
        _NONCE_SLOT,
        inline_styles=any(item.inline_styles for item in exceptions),
        script_hashes=[digest for item in exceptions for digest in item.script_hashes],
    )
    return tuple(policy.split(_NONCE_SLOT))


class SecurityHeaders:
    """The app's headers: constant ones, policies per path prefix, cacheable endpoints."""

    def __init__(self, *, hsts: bool, cacheable: set[str]) -> None:
        constant = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
            ("Permissions-Policy", PERMISSIONS_POLICY),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ]
        if hsts:
            constant.append(("Strict-Transport-Security", HSTS))
        self.constant = tuple(constant)
        self.cacheable = cacheable
        self.exceptions: list[PathException] = []
        self.owned = frozenset({name.lower() for name, _ in constant} | {CSP.lower(), "server"})
        """Headers set here (and ``Server``, dropped): a view's own value is replaced."""
        self.owned_with_caching = self.owned | {NO_STORE[0].lower()}
        self._prefixes: tuple[str, ...] = ()
        self._default_policy = _policy_around_nonce(())
        self._policies: dict[tuple[PathException, ...], tuple[str, ...]] = {}

    def allow(self, exception: PathException) -> None:
        self.exceptions.append(exception)
        self._prefixes = tuple(item.prefix for item in self.exceptions)
        self._policies.clear()

    def policy_parts(self, path: str) -> tuple[str, ...]:
        if not path.startswith(self._prefixes):
            return self._default_policy
        here = tuple(item for item in self.exceptions if path.startswith(item.prefix))
        parts = self._policies.get(here)
        if parts is None:
            parts = self._policies[here] = _policy_around_nonce(here)
        return parts

    def apply(self, response: Response) -> Response:
        headers = response.headers
        added = [(CSP, csp_nonce().join(self.policy_parts(request.path))), *self.constant]
        replaced = self.owned
        if request.endpoint not in self.cacheable:
            added.append(NO_STORE)
            replaced = self.owned_with_caching
        for name in replaced.intersection([key.lower() for key, _ in headers]):
            headers.remove(name)
        headers.extend(added)
        return response


def _security_headers(app: Flask) -> SecurityHeaders:
    security_headers: SecurityHeaders = app.extensions[HEADERS_KEY]
    return security_headers


def allow(
    app: Flask, prefix: str, *, script_hashes: Sequence[str] = (), inline_styles: bool = False
) -> None:
    """Relax the policy under ``prefix`` only (never ``'unsafe-inline'`` for scripts)."""
    _security_headers(app).allow(PathException(prefix, tuple(script_hashes), inline_styles))


def allow_caching(app: Flask, *endpoints: str) -> None:
    """Let these routes' responses be cached as they say (every other one is ``no-store``)."""
    _security_headers(app).cacheable.update(endpoints)


def csp_nonce() -> str:
    """This response's nonce (made on first use, so every response gets a fresh one)."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def init_app(app: Flask, *, production: bool) -> None:
    """Before any ``allow`` or ``allow_caching``."""
    security_headers = SecurityHeaders(hsts=production, cacheable={"static"})
    app.extensions[HEADERS_KEY] = security_headers
    app.extensions[CACHEABLE_KEY] = security_headers.cacheable
    pipeline.after(app, security_headers.apply)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
