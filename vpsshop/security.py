"""Security headers on every response and cookies that are Secure over HTTPS."""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Response

CSP_TEMPLATE = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self'{nonce}; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def csp_nonce() -> str:
    """A per-response nonce for the few inline scripts we do not own (Flask-Admin)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


class SchemeAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever this request came over HTTPS.

    Behind a proxy the scheme comes from ``X-Forwarded-Proto`` via ProxyFix, which
    ``TRUST_PROXY_HOPS`` turns on.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def register_security(app: Flask) -> None:
    app.session_interface = SchemeAwareSessionInterface()

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        nonce = f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else ""
        headers.setdefault("Content-Security-Policy", CSP_TEMPLATE.format(nonce=nonce))
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
