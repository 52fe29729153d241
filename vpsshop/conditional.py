"""Conditional GET for the polled answers: an ETag built from versions, 304 when unchanged.

The ETag names the versions of what an answer shows (``services/versions.py``) and who is
asking, so one user's ETag never matches another's answer. Callers check it only after the
request's authentication and the owner check, exactly as for a full answer, and read the
versions *before* the database: a change committed meanwhile makes the ETag stale, never
the answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from flask import Response, request

from vpsshop.services import versions

# Revalidated on every use and kept only by the user's own browser.
CACHE_CONTROL = "private, no-cache"


def etag_for(what: str, viewer: Sequence[str], keys: Sequence[versions.Key]) -> str | None:
    """The ETag of answer ``what`` for ``viewer`` over ``keys``; None when Redis is away."""
    current = versions.current(keys)
    if current is None:
        return None
    material = "\x1f".join((what, *viewer, *current))
    return hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:40]


def not_modified(etag: str | None) -> Response | None:
    """An empty 304 when the request's If-None-Match names ``etag``, else None."""
    if etag is None or not request.if_none_match.contains_weak(etag):
        return None
    return revalidated(Response(status=304), etag)


def revalidated(response: Response, etag: str | None) -> Response:
    """``response`` with its ETag and the caching policy of a polled answer."""
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.vary.update(("Cookie", "Authorization"))
    if etag is not None:
        response.set_etag(etag)
    return response
