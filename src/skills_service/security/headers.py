"""Security headers on every response, with a strict Content Security Policy.

Pages carry no inline script or style, so ``script-src`` and ``style-src`` are
``'self'`` plus a per-response nonce that a template may use (``csp_nonce()``).
Two pages render third-party front ends that set ``style`` attributes and inject
``<style>`` elements at run time — the API docs (Swagger UI) and the dashboard
(Plotly) — so on those paths, and only there, ``style-src`` also allows
``'unsafe-inline'``. ``script-src`` never does, anywhere: Dash's one inline
script is allowed by its hash (``SKILLS_CSP_SCRIPT_HASHES``), on its paths only.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from flask import Flask, current_app, g, request
from werkzeug.wrappers import Response

INLINE_STYLE_PATHS = ("/api/v1/docs", "/dashboard/")
SCRIPT_HASHES = "SKILLS_CSP_SCRIPT_HASHES"
"""App config: path prefix -> hashes of the inline scripts a mounted app needs there."""
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


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
    path = request.path
    hashes_by_prefix: Mapping[str, Sequence[str]] = current_app.config.get(SCRIPT_HASHES, {})
    script_hashes = [
        digest
        for prefix, digests in hashes_by_prefix.items()
        if path.startswith(prefix)
        for digest in digests
    ]
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        csp_nonce(),
        inline_styles=path.startswith(INLINE_STYLE_PATHS),
        script_hashes=script_hashes,
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
    return response


def init_app(app: Flask, *, production: bool) -> None:
    app.after_request(lambda response: _set_headers(response, hsts=production))
    app.jinja_env.globals["csp_nonce"] = csp_nonce
