"""Security headers on every response and cookies that are Secure over HTTPS."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Response
from flask_login import user_logged_in, user_logged_out

logger = logging.getLogger(__name__)

# The session cookie is signed, not stored: to make a copied cookie useless after logout,
# each sign-in gets an id, and logout lists that id in Redis for as long as a cookie can
# live (PERMANENT_SESSION_LIFETIME, which Flask also uses as the signature's max age).
LOGIN_ID_KEY = "_login_id"
REVOKED_PREFIX = "vpsshop:revoked-login:"

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


def _on_login(_app: Any, **_extra: Any) -> None:
    session[LOGIN_ID_KEY] = secrets.token_urlsafe(18)


def _on_logout(_app: Any, **_extra: Any) -> None:
    login_id = session.get(LOGIN_ID_KEY)
    if not login_id:
        return
    from vpsshop.queue import get_redis

    ttl = int(current_app.permanent_session_lifetime.total_seconds())
    try:
        get_redis().set(REVOKED_PREFIX + login_id, 1, ex=max(ttl, 1))
    except Exception:  # the browser's cookie is cleared anyway; only a copy would survive
        logger.warning("logout revocation not stored: redis unavailable")


def _drop_revoked_login() -> None:
    if request.endpoint == "static":
        return
    login_id = session.get(LOGIN_ID_KEY)
    if not login_id:
        return
    from vpsshop.queue import get_redis

    try:
        revoked = get_redis().exists(REVOKED_PREFIX + login_id)
    except Exception:  # fail open: pages that do not need Redis keep working when it is down
        logger.warning("logout revocation not checked: redis unavailable")
        return
    if revoked:
        session.clear()
        g.pop("_login_user", None)  # in case something loaded the user already


def register_security(app: Flask) -> None:
    """Install the cookie policy, logout revocation and the security headers."""
    app.session_interface = SchemeAwareSessionInterface()
    # Module-level receivers: blinker keeps weak references, and connecting twice is a no-op.
    user_logged_in.connect(_on_login)
    user_logged_out.connect(_on_logout)
    # First among the before-request hooks that could touch current_user.
    app.before_request_funcs.setdefault(None, []).insert(0, _drop_revoked_login)

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
