"""Rendered page fragments kept per process, for fragments that many requests render alike.

A fragment is rendered by a function of hashable arguments (the values it shows) and of
the app's mount point; the same arguments give the same HTML, so it is rendered once.
What differs per answer (a CSRF token, an elapsed time, a password: nothing secret is
kept) is rendered as a ``placeholder`` and filled in by ``fill``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import current_app, request
from markupsafe import escape

EXTENSION = "vpsshop.fragments"
# Fragments kept per kind and process (a few KB each).
FRAGMENTS_PER_KIND = 1024


def render(build: Callable[..., str], *args: Any) -> str:
    """``build(*args, script_root)``, from this process's cache when it was built before."""
    caches = current_app.extensions.setdefault(EXTENSION, {})
    cached = caches.get(build)
    if cached is None:
        cached = caches.setdefault(build, lru_cache(maxsize=FRAGMENTS_PER_KIND)(build))
    # URLs in a fragment depend on where the app is mounted.
    return cached(*args, request.script_root)


def placeholder(name: str) -> str:
    """A marker for a value filled in per answer: random per process, with NUL bytes, so
    no rendered value can contain it."""
    return f"\x00{name}-{secrets.token_hex(8)}\x00"


def fill(html: str, marker: str, value: Callable[[], str]) -> str:
    """``html`` with ``marker`` replaced by ``value()``, escaped; ``value`` is called only
    when the marker is there."""
    return html.replace(marker, str(escape(value()))) if marker in html else html
