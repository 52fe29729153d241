"""Rendered page fragments kept per process, for fragments that many requests render alike.

A fragment is rendered by a function of hashable arguments (the values it shows) and of
the app's mount point; the same arguments give the same HTML, so it is rendered once.
Nothing secret goes in: the status card keeps a placeholder where the password goes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import current_app, request

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
