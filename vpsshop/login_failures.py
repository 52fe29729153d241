"""Marks a request as a failed password or code check, for the per-account limit
(vpsshop/limits.py), whatever status code its answer has."""

from __future__ import annotations

from flask import g


def count_failure() -> None:
    """Count this request against the per-account allowance of failed sign-ins."""
    g.login_failure = True


def counted_as_failure() -> bool:
    return bool(g.get("login_failure"))
