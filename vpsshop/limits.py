"""Rate limits (Flask-Limiter on Redis): sign-in, sign-up, tokens and purchases.

The limits are attached centrally, from here, to view functions that other modules own,
so those modules stay free of rate-limit details. Counters live in Redis (REDIS_URL) so
every web process shares them; a Redis outage is logged and lets requests through rather
than taking the sign-in page down.

Sign-in limits and why they cannot lock someone out for good:

- per client address: every attempt counts (``RATELIMIT_LOGIN_PER_ADDRESS``);
- per account (the normalised email): only *failed* attempts count
  (``RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT``), in a moving window that empties by itself,
  so the account is usable again at most one window after the last failure; a correct
  password never adds to it.

Both are shared by the sign-in form and ``POST /api/v1/auth/token``, so the two doors do
not add up to twice the guesses. Sign-ups are limited per client address
(``RATELIMIT_REGISTER_PER_ADDRESS``); only accepted ones count, not a form refused for a
typo.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask.wrappers import Response
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user

from vpsshop.api.helpers import request_json
from vpsshop.login_failures import counted_as_failure
from vpsshop.pending_login import pending_email
from vpsshop.services.accounts import normalise_email
from vpsshop.wording import human_duration

limiter = Limiter(key_func=get_remote_address)

LOGIN_ENDPOINTS = ("auth.login", "auth.login_code", "api.create_token")
# A signed-in user's own password and two-factor checks: their failures count toward the
# same per-account allowance as failed sign-ins, so a stolen cookie or token cannot guess
# the password or codes faster here than at the sign-in form.
OWN_ACCOUNT_CHECK_ENDPOINTS = (
    "api.two_factor_setup",
    "api.two_factor_enable",
    "api.two_factor_disable",
    "accounts.two_factor_setup",
    "accounts.two_factor_enable",
    "accounts.two_factor_disable",
)
# Buying coins counts too: each checkout asks Stripe for a session.
PURCHASE_ENDPOINTS = (
    "shop.buy",
    "api.purchase_and_create",
    "billing.checkout",
    "api.billing_checkout",
)


# Fixed Flask-Limiter settings; the limits themselves are in config.py (RATE_LIMITS).
LIMITER_SETTINGS: dict[str, object] = {
    # A moving window: a burst is refused for one window after it, then passes again.
    "RATELIMIT_STRATEGY": "moving-window",
    # No X-RateLimit-* headers: they would tell a guesser how many tries an account has
    # left. The 429 handler below sets Retry-After itself.
    "RATELIMIT_HEADERS_ENABLED": False,
    # Redis down: log and let the request through. An in-process fallback would give every
    # web process its own counters, which is no limit at all once scaled out.
    "RATELIMIT_SWALLOW_ERRORS": True,
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False,
    # Short timeouts: an unreachable Redis must not hang the sign-in page.
    "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
}


def _digest(value: str) -> str:
    # Emails are personal data: Redis keys (and Flask-Limiter's log line) carry a hash.
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def _submitted_email() -> str:
    if request.endpoint == "auth.login_code":
        return pending_email() or ""
    if request.endpoint in OWN_ACCOUNT_CHECK_ENDPOINTS and current_user.is_authenticated:
        return current_user.email
    if request.is_json:
        body = request_json()
        raw = body.get("email") if isinstance(body, dict) else None
    else:
        raw = request.form.get("email")
    if not isinstance(raw, str):
        return ""
    try:
        return normalise_email(raw)
    except Exception:  # any malformed value still gets one bucket of its own
        return raw.strip().lower()[:300]


def address_key() -> str:
    """The client address (ProxyFix makes it the real one behind a trusted proxy)."""
    return "addr:" + (get_remote_address() or "unknown")


def account_key() -> str:
    """The account a sign-in attempt is for: the normalised email, hashed."""
    return "acct:" + _digest(_submitted_email())


def buyer_key() -> str:
    """The buyer (signed in by cookie or API token), else the address."""
    if current_user.is_authenticated:
        return "user:" + str(current_user.id)
    return address_key()


def _config_value(key: str) -> Callable[[], str]:
    # Read per request: one module-level limiter serves every app the tests create.
    def value() -> str:
        return current_app.config[key]

    value.__name__ = f"config_{key.lower()}"
    return value


_LOGIN_PER_ADDRESS = _config_value("RATELIMIT_LOGIN_PER_ADDRESS")
_LOGIN_FAILURES_PER_ACCOUNT = _config_value("RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT")
_TOKENS_PER_ACCOUNT = _config_value("RATELIMIT_TOKENS_PER_ACCOUNT")
_PURCHASES_PER_USER = _config_value("RATELIMIT_PURCHASES_PER_USER")
_REGISTER_PER_ADDRESS = _config_value("RATELIMIT_REGISTER_PER_ADDRESS")


def _failed_login(response: Response) -> bool:
    # Both sign-in doors answer 401 to wrong credentials (and codes), and nothing else.
    return response.status_code == 401 or counted_as_failure()


def _token_issued(response: Response) -> bool:
    return response.status_code == 201


def _sign_up_accepted(response: Response) -> bool:
    # A form refused for a typo costs no hash and creates nothing: it does not count.
    return response.status_code == 302


def _retry_after_seconds() -> int:
    current = limiter.current_limit
    try:
        reset_at = current.reset_at if current is not None else None
    except Exception:  # Redis went away between the check and this answer
        reset_at = None
    if reset_at is None:
        return 60
    return max(1, math.ceil(reset_at - time.time()))


def rate_limited(error: RateLimitExceeded):
    """429 with Retry-After: JSON under /api/, an HTML page elsewhere."""
    seconds = _retry_after_seconds()
    message = f"Too many attempts. Try again in {human_duration(seconds)}."
    if request.path.startswith("/api/"):
        response = jsonify(error="rate_limited", message=message)
    else:
        response = current_app.make_response(
            render_template("errors/rate_limited.html", message=message, seconds=seconds)
        )
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response


def storage_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Redis client options for the counters: managed rediss:// add-ons need the same
    certificate setting as every other Redis client of the app."""
    if str(config["REDIS_URL"]).startswith("rediss://"):
        return {"ssl_cert_reqs": config["REDIS_SSL_CERT_REQS"]}
    return {}


def init_limits(app: Flask) -> None:
    """Bind the limiter to ``app`` with Redis storage; call before the blueprints."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    if options := storage_options(app.config):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", options)
    for key, value in LIMITER_SETTINGS.items():
        app.config.setdefault(key, value)
    # Counters of deployments sharing one Redis stay apart (vpsshop/redis_keys.py).
    app.config.setdefault("RATELIMIT_KEY_PREFIX", app.config["REDIS_KEY_PREFIX"] + ":rl")
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, rate_limited)


def _wrap(app: Flask, endpoints: tuple[str, ...], *decorators: Callable) -> None:
    for endpoint in endpoints:
        view = app.view_functions.get(endpoint)
        if view is None:
            raise RuntimeError(f"rate limit for a missing endpoint {endpoint!r}")
        for decorate in decorators:
            view = decorate(view)
        app.view_functions[endpoint] = view


# Built once: Flask-Limiter keys its registry by view name, and the same objects on every
# app (the tests build many) keep that registry from growing duplicates.
LOGIN_BY_ADDRESS = limiter.shared_limit(
    _LOGIN_PER_ADDRESS, scope="login-address", key_func=address_key, methods=["POST"]
)
LOGIN_FAILURES_BY_ACCOUNT = limiter.shared_limit(
    _LOGIN_FAILURES_PER_ACCOUNT,
    scope="login-account",
    key_func=account_key,
    methods=["POST"],
    deduct_when=_failed_login,
)
TOKENS_BY_ACCOUNT = limiter.limit(
    _TOKENS_PER_ACCOUNT, key_func=account_key, deduct_when=_token_issued
)
PURCHASES_BY_USER = limiter.shared_limit(
    _PURCHASES_PER_USER, scope="purchase", key_func=buyer_key, methods=["POST"]
)
REGISTER_BY_ADDRESS = limiter.shared_limit(
    _REGISTER_PER_ADDRESS,
    scope="register-address",
    key_func=address_key,
    methods=["POST"],
    deduct_when=_sign_up_accepted,
)


# Password-reset requests: per client address, and per account (the submitted address,
# whether or not it has an account, so a 429 tells nothing either). Confirmations: per
# client address. Verification mails: per signed-in account.
RESET_ENDPOINTS = ("mail.forgot_password", "api.request_password_reset")
RESET_CONFIRM_ENDPOINTS = ("mail.reset_password", "api.confirm_password_reset")
VERIFY_MAIL_ENDPOINTS = ("mail.resend_verification", "api.resend_verification")
RESET_BY_ADDRESS = limiter.shared_limit(
    _config_value("RATELIMIT_PASSWORD_RESET_PER_ADDRESS"),
    scope="reset-address",
    key_func=address_key,
    methods=["POST"],
)
RESET_BY_ACCOUNT = limiter.shared_limit(
    _config_value("RATELIMIT_PASSWORD_RESET_PER_ACCOUNT"),
    scope="reset-account",
    key_func=account_key,
    methods=["POST"],
)
RESET_CONFIRM_BY_ADDRESS = limiter.shared_limit(
    _config_value("RATELIMIT_PASSWORD_RESET_CONFIRM_PER_ADDRESS"),
    scope="reset-confirm-address",
    key_func=address_key,
    methods=["POST"],
)
VERIFY_MAIL_BY_ACCOUNT = limiter.shared_limit(
    _config_value("RATELIMIT_VERIFY_MAIL_PER_ACCOUNT"),
    scope="verify-mail",
    key_func=buyer_key,
    methods=["POST"],
)


def apply_limits(app: Flask) -> None:
    """Attach the limits to the views; call after the blueprints are registered."""
    _wrap(app, LOGIN_ENDPOINTS, LOGIN_BY_ADDRESS, LOGIN_FAILURES_BY_ACCOUNT)
    _wrap(app, OWN_ACCOUNT_CHECK_ENDPOINTS, LOGIN_FAILURES_BY_ACCOUNT)
    _wrap(app, ("api.create_token",), TOKENS_BY_ACCOUNT)
    _wrap(app, PURCHASE_ENDPOINTS, PURCHASES_BY_USER)
    _wrap(app, ("auth.register",), REGISTER_BY_ADDRESS)
    _wrap(app, RESET_ENDPOINTS, RESET_BY_ADDRESS, RESET_BY_ACCOUNT)
    _wrap(app, RESET_CONFIRM_ENDPOINTS, RESET_CONFIRM_BY_ADDRESS)
    _wrap(app, VERIFY_MAIL_ENDPOINTS, VERIFY_MAIL_BY_ACCOUNT)
