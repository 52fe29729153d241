"""Settings read from the environment, with the embedded defaults for development."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vpsshop.services.mail_settings import mail_settings
from vpsshop.services.passwords import PRODUCTION_PROFILE, profile_from, profile_problem

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEV_ENVIRONMENTS = {"development", "testing"}


def normalise_database_url(url: str) -> str:
    """Rewrite Heroku-style ``postgres://`` URLs to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc


def _bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise RuntimeError(f"{name} must be 1 or 0, got {raw!r}")


# Production rate limits; the test suite signs in far more often than a person does, so
# it gets generous ones and its own rate-limit tests set small values.
RATE_LIMITS = {
    "RATELIMIT_LOGIN_PER_ADDRESS": "30 per minute",
    "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT": "10 per 15 minutes",
    "RATELIMIT_TOKENS_PER_ACCOUNT": "20 per hour",
    "RATELIMIT_PURCHASES_PER_USER": "10 per minute",
    # Accepted sign-ups (each an argon2 hash and maybe an account) per client address.
    "RATELIMIT_REGISTER_PER_ADDRESS": "5 per hour",
    # Password-reset requests and confirmations, verification mails (vpsshop/limits.py).
    "RATELIMIT_PASSWORD_RESET_PER_ADDRESS": "10 per hour",
    "RATELIMIT_PASSWORD_RESET_PER_ACCOUNT": "3 per hour",
    "RATELIMIT_PASSWORD_RESET_CONFIRM_PER_ADDRESS": "30 per hour",
    "RATELIMIT_VERIFY_MAIL_PER_ACCOUNT": "3 per hour",
}
TESTING_RATE_LIMIT = "100000 per minute"


def _rate_limits(env: str) -> dict[str, Any]:
    limits: dict[str, Any] = {
        key: os.environ.get(key) or (TESTING_RATE_LIMIT if env == "testing" else default)
        for key, default in RATE_LIMITS.items()
    }
    limits["RATELIMIT_ENABLED"] = os.environ.get("RATELIMIT_ENABLED", "1") != "0"
    return limits


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: a pool as large as a web process's threads.

    SQLAlchemy's default (5 kept, 10 overflow) closes every overflow connection when it is
    returned, so 16 busy threads kept opening PostgreSQL connections, a backend fork
    each; sized to the threads, a connection is opened once and reused. With no overflow
    a smaller ``DATABASE_POOL_SIZE`` makes threads wait for a connection, never churn.
    Liveness is checked by ``vpsshop.db_pool`` (a ping after an idle spell), not by a
    ping on every checkout.
    """
    if not database_url.startswith("postgresql"):
        return {}
    return {
        "pool_size": _int_env("DATABASE_POOL_SIZE", _int_env("WEB_THREADS", 16)),
        "max_overflow": _int_env("DATABASE_MAX_OVERFLOW", 0),
    }


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app's settings from the environment, then apply ``overrides``."""
    env = os.environ.get("VPSSHOP_ENV", "production")
    overrides = dict(overrides or {})
    if overrides.get("TESTING"):
        env = "testing"
    default_db = f"sqlite:///{INSTANCE_DIR / 'vpsshop.sqlite3'}"
    database_url = normalise_database_url(os.environ.get("DATABASE_URL") or default_db)
    config: dict[str, Any] = {
        "ENV_NAME": env,
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://localhost:6379/0",
        # Managed Redis add-ons serve rediss:// with self-signed certificates.
        "REDIS_SSL_CERT_REQS": os.environ.get("REDIS_SSL_CERT_REQS", "required"),
        # Comma-separated Fernet keys, newest first; see services/crypto.py.
        "ENCRYPTION_KEYS": os.environ.get("ENCRYPTION_KEYS", ""),
        "RQ_QUEUE_NAME": os.environ.get("RQ_QUEUE_NAME", "vpsshop"),
        # Put before every Redis key the shop writes (vpsshop/redis_keys.py); empty means
        # the queue name, so deployments with their own queue never share a key.
        "REDIS_KEY_PREFIX": os.environ.get("REDIS_KEY_PREFIX", ""),
        # Timeouts for calls to worker nodes (seconds).
        "NODE_CONNECT_TIMEOUT": _float_env("NODE_CONNECT_TIMEOUT", 3.0),
        "NODE_READ_TIMEOUT": _float_env("NODE_READ_TIMEOUT", 10.0),
        "NODE_LOG_READ_TIMEOUT": _float_env("NODE_LOG_READ_TIMEOUT", 5.0),
        "NODE_LOG_MAX_BYTES": _int_env("NODE_LOG_MAX_BYTES", 1024 * 1024),
        "NODE_UNHEALTHY_AFTER": _int_env("NODE_UNHEALTHY_AFTER", 3),
        "WATCH_INTERVAL_SECONDS": _float_env("WATCH_INTERVAL_SECONDS", 3.0),
        # Log reads one node's watch tick makes at once (services/node_watch.py).
        "WATCH_NODE_CONCURRENCY": _int_env("WATCH_NODE_CONCURRENCY", 8),
        "PROVISION_TIMEOUT_SECONDS": _int_env("PROVISION_TIMEOUT_SECONDS", 600),
        "LOG_CACHE_SECONDS": _float_env("LOG_CACHE_SECONDS", 2.0),
        # Open event streams per web process; past it new ones get 503 with Retry-After.
        "EVENTS_MAX_STREAMS": _int_env("EVENTS_MAX_STREAMS", 8),
        # The last log read (password masked) is kept this long after the newest read.
        "LOG_KEEP_SECONDS": _int_env("LOG_KEEP_SECONDS", 3600),
        # A pooled connection idle for longer is pinged before use (vpsshop/db_pool.py).
        "DATABASE_PING_AFTER_IDLE_SECONDS": _float_env("DATABASE_PING_AFTER_IDLE_SECONDS", 1.0),
        "STOP_RETRY_BASE_SECONDS": _float_env("STOP_RETRY_BASE_SECONDS", 2.0),
        "STOP_RETRY_MAX_SECONDS": _float_env("STOP_RETRY_MAX_SECONDS", 300.0),
        "SWEEP_INTERVAL_SECONDS": _float_env("SWEEP_INTERVAL_SECONDS", 30.0),
        # How often the sweep looks at a ready session's VM on its node, and how many such
        # looks one sweep enqueues at most (services/sweeper.py).
        "LOST_CHECK_INTERVAL_SECONDS": _float_env("LOST_CHECK_INTERVAL_SECONDS", 300.0),
        "LOST_CHECKS_PER_SWEEP": _int_env("LOST_CHECKS_PER_SWEEP", 20),
        # A session with no job expected for this long is picked up by the sweeper.
        "JOB_LEASE_SECONDS": _float_env("JOB_LEASE_SECONDS", 60.0),
        # A running job renews its session's run lock and lease every third of this; a
        # job whose worker was killed lets go of its session after at most this long.
        "JOB_HEARTBEAT_SECONDS": _float_env("JOB_HEARTBEAT_SECONDS", 10.0),
        # How often every worker moves due scheduled jobs (enqueue_in/at) into the queue.
        "SCHEDULER_TICK_SECONDS": _float_env("SCHEDULER_TICK_SECONDS", 1.0),
        "TRUST_PROXY_HOPS": _int_env("TRUST_PROXY_HOPS", 0),
        # Stripe Checkout (services/stripe_gateway.py, services/stripe_webhooks.py).
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", ""),
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", ""),
        # Comma-separated signing secrets: during a rotation both verify.
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", "https://api.stripe.com"),
        "STRIPE_TIMEOUT_SECONDS": _float_env("STRIPE_TIMEOUT_SECONDS", 10.0),
        # Where Checkout Session URLs point: the pages' form-action allows it.
        "STRIPE_CHECKOUT_ORIGIN": os.environ.get(
            "STRIPE_CHECKOUT_ORIGIN", "https://checkout.stripe.com"
        ),
        # An open payment not paid by then is marked expired by the sweep.
        "PAYMENT_EXPIRY_HOURS": _float_env("PAYMENT_EXPIRY_HOURS", 24.0),
        # Bearer token for GET /metrics; unset, the page answers 404 (vpsshop/ops).
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # A waitlist entry leaves the line after this many hours (services/waitlist.py).
        "WAITLIST_HOURS": _float_env("WAITLIST_HOURS", 24.0),
        # The session page warns and offers the extension this long before the end.
        "ENDING_SOON_MINUTES": _int_env("ENDING_SOON_MINUTES", 10),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # argon2id costs for new password hashes (services/passwords.py); a hash keeps the
        # costs it was made with, and is redone under these at its next sign-in.
        "PASSWORD_HASH_TIME_COST": _int_env(
            "PASSWORD_HASH_TIME_COST", PRODUCTION_PROFILE.time_cost
        ),
        "PASSWORD_HASH_MEMORY_COST": _int_env(
            "PASSWORD_HASH_MEMORY_COST", PRODUCTION_PROFILE.memory_cost
        ),
        "PASSWORD_HASH_PARALLELISM": _int_env(
            "PASSWORD_HASH_PARALLELISM", PRODUCTION_PROFILE.parallelism
        ),
        # Admins without two-factor sign-in get 403 2fa_required from the admin API and are
        # sent to set it up before any admin page (vpsshop/accounts/gate.py).
        "ADMIN_REQUIRE_2FA": _bool_env("ADMIN_REQUIRE_2FA", env not in DEV_ENVIRONMENTS),
        # Coins every self-service sign-up gets, through the ledger (services/accounts.py).
        "SIGNUP_COINS": _int_env("SIGNUP_COINS", 0),
        # Failed voucher codes one account may try per window (services/voucher_attempts.py).
        "VOUCHER_MAX_FAILURES": _int_env("VOUCHER_MAX_FAILURES", 10),
        "VOUCHER_FAILURE_WINDOW_SECONDS": _int_env("VOUCHER_FAILURE_WINDOW_SECONDS", 3600),
        # Rate limits (vpsshop/limits.py), Flask-Limiter rate strings.
        **_rate_limits(env),
        **mail_settings(env),
    }
    config.update(overrides)
    config["ENV_NAME"] = env
    # Two deployments sharing one Redis database keep apart by their queue's name.
    config["REDIS_KEY_PREFIX"] = config["REDIS_KEY_PREFIX"] or config["RQ_QUEUE_NAME"]
    if not 0 <= config["SIGNUP_COINS"] <= 1_000_000_000:
        raise RuntimeError(f"SIGNUP_COINS must be 0 or more, got {config['SIGNUP_COINS']}")
    profile = profile_from(config)
    problem = profile_problem(profile)
    if problem:
        raise RuntimeError(
            f"{problem} (got time cost {profile.time_cost}, memory {profile.memory_cost} KiB, "
            f"parallelism {profile.parallelism})."
        )
    if not config["SECRET_KEY"]:
        if env not in DEV_ENVIRONMENTS:
            raise RuntimeError(
                "SECRET_KEY is not set. Set it in the environment "
                "(or VPSSHOP_ENV=development for a local demo)."
            )
        config["SECRET_KEY"] = "dev-only-secret-key-not-for-production"
    if not config["ENCRYPTION_KEYS"] and env not in DEV_ENVIRONMENTS:
        raise RuntimeError(
            "ENCRYPTION_KEYS is not set. Generate one with "
            "`flask --app wsgi generate-key` and set it in the environment."
        )
    return config
