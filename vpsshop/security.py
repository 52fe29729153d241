"""Security headers on every response and cookies that are Secure over HTTPS."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, current_app, g, request, session
from flask.wrappers import Response
from flask_login import user_logged_in, user_logged_out

from vpsshop.cookie_session import CookieSessionInterface

logger = logging.getLogger(__name__)

# The session cookie is signed, not stored: to make a copied cookie useless after logout,
# each sign-in gets an id, and logout lists that id in Redis for as long as a cookie can
# live (PERMANENT_SESSION_LIFETIME, which Flask also uses as the signature's max age).
LOGIN_ID_KEY = "_login_id"
REVOKED_PREFIX = "vpsshop:revoked-login:"

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)

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


def revoked_login_key() -> str | None:
    """The Redis key that marks this cookie's login as logged out; None without a login."""
    login_id = session.get(LOGIN_ID_KEY)
    return REVOKED_PREFIX + login_id if isinstance(login_id, str) and login_id else None


def note_revocation(revoked: bool) -> None:
    """Record this request's revocation check; a revoked login leaves the cookie empty."""
    g.login_revoked = revoked
    if revoked:
        session.clear()
        g.pop("_login_user", None)  # in case something loaded the user already


def login_revoked() -> bool:
    """Whether this cookie's login was logged out (checked once per request).

    Checked where a login is used, not on every request: by the user loader, before the
    database is asked, and by the cached polled reads in the same Redis round trip as their
    entries. A request that never looks at the login has nothing to protect.
    """
    if "login_revoked" in g:
        return g.login_revoked
    key = revoked_login_key()
    if key is None:
        return False
    from vpsshop.queue import get_redis

    try:
        revoked = bool(get_redis().exists(key))
    except Exception:  # fail open: pages that do not need Redis keep working when it is down
        logger.warning("logout revocation not checked: redis unavailable")
        revoked = False
    note_revocation(revoked)
    return revoked


def register_security(app: Flask) -> None:
    """Install the cookie policy, logout revocation and the security headers."""
    app.session_interface = CookieSessionInterface()
    # Module-level receivers: blinker keeps weak references, and connecting twice is a no-op.
    user_logged_in.connect(_on_login)
    user_logged_out.connect(_on_logout)

    csp_without_nonce = CSP_TEMPLATE.format(nonce="")

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        nonce = g.get("csp_nonce")
        csp = CSP_TEMPLATE.format(nonce=f" 'nonce-{nonce}'") if nonce else csp_without_nonce
        wanted = [("Content-Security-Policy", csp), *SECURITY_HEADERS]
        if request.is_secure:
            wanted.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        # What a view set itself stays (Werkzeug's setdefault would raise and catch a
        # KeyError per absent header).
        present = {name.lower() for name, _ in headers}
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response
