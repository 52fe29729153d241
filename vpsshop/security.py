"""Security headers on every response and cookies that are Secure over HTTPS."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Response
from flask_login import user_logged_in, user_logged_out

from vpsshop import redis_keys

logger = logging.getLogger(__name__)

# The session cookie is signed, not stored: to make a copied cookie useless after logout,
# each sign-in gets an id, and logout lists that id in Redis for as long as a cookie can
# live (PERMANENT_SESSION_LIFETIME, which Flask also uses as the signature's max age).
LOGIN_ID_KEY = "_login_id"

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)

CSP_TEMPLATE = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self'{nonce}; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'{form_targets}; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure whenever the request came over HTTPS.

    Behind a proxy the scheme comes from ``X-Forwarded-Proto`` via ProxyFix, which
    ``TRUST_PROXY_HOPS`` turns on.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _revoked_key(login_id: str) -> str:
    return redis_keys.key("revoked-login", login_id)


def csp_nonce() -> str:
    """A per-response nonce for the few inline scripts we do not own (Flask-Admin)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _on_login(_app: Any, **_extra: Any) -> None:
    session[LOGIN_ID_KEY] = secrets.token_urlsafe(18)


def _on_logout(_app: Any, **_extra: Any) -> None:
    login_id = session.get(LOGIN_ID_KEY)
    if not login_id:
        return
    from vpsshop.queue import get_redis

    ttl = int(current_app.permanent_session_lifetime.total_seconds())
    try:
        get_redis().set(_revoked_key(login_id), 1, ex=max(ttl, 1))
    except Exception:  # the browser's cookie is cleared anyway; only a copy would survive
        logger.warning("logout revocation not stored: redis unavailable")


def login_revoked() -> bool:
    """Whether this cookie's login was logged out (checked once per request, by the user
    loader). With Redis unreachable the check fails open, see the README."""
    if "login_revoked" in g:
        return g.login_revoked
    login_id = session.get(LOGIN_ID_KEY)
    revoked = False
    if isinstance(login_id, str) and login_id:
        from vpsshop.queue import get_redis

        try:
            revoked = bool(get_redis().exists(_revoked_key(login_id)))
        except Exception:  # pages that do not need Redis keep working when it is down
            logger.warning("logout revocation not checked: redis unavailable")
    g.login_revoked = revoked
    if revoked:
        session.clear()  # a copy of a logged-out cookie leaves empty
    return revoked


def register_security(app: Flask) -> None:
    """Install the cookie policy, logout revocation and the security headers."""
    app.session_interface = CookieSessionInterface()
    # Module-level receivers: blinker keeps weak references, and connecting twice is a no-op.
    user_logged_in.connect(_on_login)
    user_logged_out.connect(_on_logout)

    # The Buy coins form's answer redirects to Stripe's checkout page, and browsers hold a
    # form's redirects to form-action too.
    checkout_origin = app.config.get("STRIPE_CHECKOUT_ORIGIN", "")
    form_targets = f" {checkout_origin}" if checkout_origin else ""
    csp_template = CSP_TEMPLATE.replace("{form_targets}", form_targets)
    csp_without_nonce = csp_template.format(nonce="")

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        nonce = g.get("csp_nonce")
        csp = csp_template.format(nonce=f" 'nonce-{nonce}'") if nonce else csp_without_nonce
        wanted = [("Content-Security-Policy", csp), *SECURITY_HEADERS]
        if request.is_secure:
            wanted.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        for name, value in wanted:  # what a view set itself stays
            response.headers.setdefault(name, value)
        return response
