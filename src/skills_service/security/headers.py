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
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from werkzeug.wrappers import Response

EXCEPTIONS_KEY = "skills_service.csp_exceptions"
CACHEABLE_KEY = "skills_service.cacheable_endpoints"
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


@dataclass(frozen=True)
class PathException:
    """What the policy also allows under one path prefix, for a mounted front end."""

    prefix: str
    script_hashes: tuple[str, ...] = ()
    inline_styles: bool = False


def allow(
    app: Flask, prefix: str, *, script_hashes: Sequence[str] = (), inline_styles: bool = False
) -> None:
    """Relax the policy under ``prefix`` only (never ``'unsafe-inline'`` for scripts)."""
    exceptions: list[PathException] = app.extensions.setdefault(EXCEPTIONS_KEY, [])
    exceptions.append(PathException(prefix, tuple(script_hashes), inline_styles))


def allow_caching(app: Flask, *endpoints: str) -> None:
    """Let these routes' responses be cached as they say (every other one is ``no-store``)."""
    cacheable: set[str] = app.extensions.setdefault(CACHEABLE_KEY, set())
    cacheable.update(endpoints)


def csp_nonce() -> str:
    """This response's nonce (made on first use, so every response gets a fresh one)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    nonce: str = g.csp_nonce
    return nonce


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


def _set_headers(response: Response, *, hsts: bool) -> Response:
    exceptions: list[PathException] = current_app.extensions.get(EXCEPTIONS_KEY, [])
    here = [item for item in exceptions if request.path.startswith(item.prefix)]
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        csp_nonce(),
        inline_styles=any(item.inline_styles for item in here),
        script_hashes=[digest for item in here for digest in item.script_hashes],
    )
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    headers.pop("Server", None)
    if request.endpoint not in current_app.extensions.get(CACHEABLE_KEY, ()):
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask, *, production: bool) -> None:
    allow_caching(app, "static")
    app.after_request(lambda response: _set_headers(response, hsts=production))
    app.jinja_env.globals["csp_nonce"] = csp_nonce
