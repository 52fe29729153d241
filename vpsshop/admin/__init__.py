"""The operators' panel at /admin/ (Flask-Admin)."""

from __future__ import annotations

from flask import Flask


def init_admin(app: Flask) -> None:
    """Mount the admin views on ``app``."""
