"""The signed session cookie: Secure over HTTPS, and each cookie verified once per process.

Every signed-in request carries the same cookie until it changes; checking its signature,
decompressing and parsing it again each time cost more than the polled status card's own
work. A cookie string verified before maps to its data here (bounded, per set of keys);
its age is still checked against the session lifetime on every request.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer

EXTENSION = "vpsshop.cookie_session"
# Distinct cookies remembered per process before the memory starts over.
VERIFIED_PER_PROCESS = 4096


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    # Only containers can be changed in place (a flash appends to its list); strings and
    # the other values a cookie holds cannot, and are shared.
    return {
        key: copy.deepcopy(value) if isinstance(value, (dict, list, tuple)) else value
        for key, value in data.items()
    }


class _Verifier:
    """The serializer of one set of keys and the cookies it has verified."""

    def __init__(self, keys: tuple[Any, ...], serializer: URLSafeTimedSerializer) -> None:
        self.keys = keys
        self.serializer = serializer
        self.verified: dict[str, tuple[dict[str, Any], int]] = {}


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure whenever the request came over HTTPS.

    Behind a proxy the scheme comes from ``X-Forwarded-Proto`` via ProxyFix, which
    ``TRUST_PROXY_HOPS`` turns on.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure

    def _verifier(self, app: Flask) -> _Verifier | None:
        if not app.secret_key:
            return None
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        verifier = app.extensions.get(EXTENSION)
        if verifier is None or verifier.keys != keys:
            # Flask builds the serializer for every request; build it once per set of keys.
            verifier = _Verifier(keys, super().get_signing_serializer(app))
            app.extensions[EXTENSION] = verifier
        return verifier

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        verifier = self._verifier(app)
        return verifier.serializer if verifier is not None else None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        verifier = self._verifier(app)
        if verifier is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        known = verifier.verified.get(value)
        if known is not None:
            data, signed_at = known
            # itsdangerous's rule: expired when older than max_age, or from the future.
            if 0 <= int(time.time()) - signed_at <= max_age:
                return self.session_class(_copy(data))
            return self.session_class()
        try:
            data, signed = verifier.serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if len(verifier.verified) >= VERIFIED_PER_PROCESS:
            verifier.verified.clear()
        verifier.verified[value] = (_copy(data), int(signed.timestamp()))
        return self.session_class(data)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Most answers leave the cookie as it came: skip working out its attributes.
        unchanged = (
            not session.modified if not session else not self.should_set_cookie(app, session)
        )
        if unchanged:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
