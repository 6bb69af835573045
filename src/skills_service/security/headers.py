"""Security headers on every response, with a strict Content Security Policy.

Pages carry no inline script or style, so ``script-src`` and ``style-src`` are
``'self'`` plus a per-response nonce that a template may use (``csp_nonce()``).
Two pages render third-party front ends that set ``style`` attributes and inject
``<style>`` elements at run time — the API docs (Swagger UI) and the dashboard
(Plotly) — so on those paths, and only there, ``style-src`` also allows
``'unsafe-inline'``. ``script-src`` never does, anywhere.
"""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from werkzeug.wrappers import Response

INLINE_STYLE_PATHS = ("/api/v1/docs", "/dashboard/")
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


def content_security_policy(nonce: str, *, inline_styles: bool) -> str:
    style_src = "'self' 'unsafe-inline'" if inline_styles else f"'self' 'nonce-{nonce}'"
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
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
    inline_styles = request.path.startswith(INLINE_STYLE_PATHS)
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        csp_nonce(), inline_styles=inline_styles
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
