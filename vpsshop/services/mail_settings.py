"""Mail settings read from the environment (MAIL_URL, MAIL_FROM, PUBLIC_URL, verification)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(__file__).resolve().parent.parent.parent / "instance"
# Seconds between the tries of a message the SMTP server did not take (then it fails).
DEFAULT_RETRY_INTERVALS = "30,120,600,1800,3600"


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() not in {"0", "false", "no", "off"}


def retry_intervals(raw: str) -> list[int]:
    """``"30,120"`` -> ``[30, 120]``; raises RuntimeError for anything else."""
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(value < 0 for value in values):
        raise RuntimeError(f"MAIL_RETRY_INTERVALS must be seconds like 30,120,600, got {raw!r}")
    return values


def mail_settings(env: str) -> dict[str, Any]:
    production = env not in {"development", "testing"}
    return {
        # smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465.
        "MAIL_URL": os.environ.get("MAIL_URL", ""),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "vpsshop <no-reply@localhost>"),
        # Where links in mails point: the shop as its users reach it.
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "").rstrip("/"),
        # Without MAIL_URL in development and tests, messages are written here as .eml files.
        "MAIL_OUTBOX_DIR": os.environ.get("MAIL_OUTBOX_DIR", str(INSTANCE_DIR / "outbox")),
        # A CA file to trust for the SMTP server's certificate (a private relay).
        "MAIL_TLS_CA_FILE": os.environ.get("MAIL_TLS_CA_FILE", ""),
        "MAIL_TIMEOUT_SECONDS": float(os.environ.get("MAIL_TIMEOUT_SECONDS") or 10),
        "MAIL_RETRY_INTERVALS": os.environ.get("MAIL_RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS),
        "MAIL_ENDING_NOTICE_MINUTES": int(os.environ.get("MAIL_ENDING_NOTICE_MINUTES") or 10),
        "PASSWORD_RESET_TTL_SECONDS": int(os.environ.get("PASSWORD_RESET_TTL_SECONDS") or 3600),
        "EMAIL_VERIFICATION_TTL_SECONDS": int(
            os.environ.get("EMAIL_VERIFICATION_TTL_SECONDS") or 3 * 24 * 3600
        ),
        "REQUIRE_EMAIL_VERIFICATION": _flag("REQUIRE_EMAIL_VERIFICATION", production),
    }
