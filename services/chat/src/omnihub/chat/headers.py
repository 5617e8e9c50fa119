"""Security headers of every page and file the chat service serves (the widget, uploads, WeChat media)."""

from __future__ import annotations

from aiohttp import web

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "object-src 'none'"
)


def secure_headers(response: web.StreamResponse) -> web.StreamResponse:
    """Content-Security-Policy, nosniff and no referrer on `response`."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
