"""The polled reads (a session's status, the catalogue), answered from the read cache when
it can, else from the database, filling the cache for the next poll.

Each ``*_cached`` function answers only what the cache proves (a valid token or login of the
session's owner); anything else, an admin looking at someone's session included, returns
None and the caller takes the database path, which enforces every rule as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from flask import g
from flask import session as cookie_session
from flask_login import current_user

from vpsshop.extensions import login_manager
from vpsshop.models import User
from vpsshop.models.product import os_name_of
from vpsshop.security import note_revocation, revoked_login_key
from vpsshop.services import products as products_service
from vpsshop.services import read_cache
from vpsshop.services import sessions as session_service
from vpsshop.services.read_cache import CATALOGUE, Snapshot
from vpsshop.services.session_views import SessionView, from_entry, from_session, to_entry
from vpsshop.services.tokens import token_digest


@dataclass(frozen=True)
class CatalogueProduct:
    """A product as the catalogue shows it; duck-types ``VpsProduct`` for the page and API."""

    id: uuid.UUID
    name: str
    price_coins: int
    provision_action: int
    duration_minutes: int | None

    @property
    def os_name(self) -> str:
        return os_name_of(self.provision_action)


Catalogue = Sequence[tuple[CatalogueProduct, bool]]
# What a cached user entry holds: the login check and the page header.
USER_FIELDS = {"session_version", "email", "coins", "is_admin"}


def _session_key(session_id: uuid.UUID) -> read_cache.Key:
    return ("session", str(session_id))


def _token_key(token: str) -> read_cache.Key:
    return ("token", token_digest(token))


@dataclass(frozen=True)
class CookieLogin:
    """The login a request's cookie carries, as Flask-Login would take it."""

    user_id: str
    session_version: str
    revoked_key: str | None


@dataclass(frozen=True)
class CachedViewer:
    """The signed-in user as the page header shows it, from the read cache."""

    id: str
    email: str
    coins: int
    is_admin: bool
    is_authenticated = True


def _cookie_login() -> CookieLogin | None:
    """The login of this request's cookie, if Flask-Login would take it as is."""
    raw = cookie_session.get("_user_id")
    if not isinstance(raw, str):
        return None
    # Session protection ("basic") marks a cookie from another browser non-fresh; leave
    # that, and every other unusual case, to Flask-Login on the database path.
    if cookie_session.get("_id") != login_manager._session_identifier_generator():
        return None
    user_id, _, version = raw.partition(":")
    return CookieLogin(user_id, version, revoked_login_key())


def _fetch_as(login: CookieLogin, keys: list[read_cache.Key]) -> Snapshot | None:
    """The login's user entry, then ``keys``, and the login's revocation, in one round trip."""
    also = [login.revoked_key] if login.revoked_key else []
    snapshot = read_cache.fetch([("user", login.user_id), *keys], also)
    if snapshot is not None and also:
        note_revocation(snapshot.also[0] is not None)
    return snapshot


def _signed_in_user(snapshot: Snapshot, login: CookieLogin) -> dict | None:
    """The cached user entry if the login is still valid: not logged out, and at the user's
    current session version (a password change ends older logins)."""
    user = snapshot.values[0]
    if user is None or g.get("login_revoked") or not USER_FIELDS <= user.keys():
        return None
    return user if str(user["session_version"]) == login.session_version else None


def viewer() -> Any:
    """Who the page header shows: the cached viewer when a page set one, else current_user."""
    return g.get("viewer") or current_user._get_current_object()


def header_viewer() -> CachedViewer | None:
    """The header's user as a plain value (None when signed out), whichever way it came."""
    user = viewer()
    if not user.is_authenticated:
        return None
    if isinstance(user, CachedViewer):
        return user
    return CachedViewer(str(user.id), user.email, user.coins, user.is_admin)


# --- A session's status -----------------------------------------------------------------


def session_for_token_cached(
    token: str, session_id: uuid.UUID
) -> tuple[Snapshot | None, SessionView | None]:
    """The API poll from the cache: the view if the token and the session's owner match."""
    snapshot = read_cache.fetch([_token_key(token), _session_key(session_id)])
    if snapshot is None:
        return None, None
    owner, entry = snapshot.values
    if owner is None or entry is None or entry["user_id"] != owner["user_id"]:
        return snapshot, None
    return snapshot, _view_of(snapshot.blobs[1])


def remember_token(snapshot: Snapshot | None, token: str, user: User) -> None:
    """Cache that ``token`` is ``user``'s (checked against the database just now)."""
    if snapshot is not None:
        read_cache.store(_token_key(token), {"user_id": str(user.id)}, snapshot)


def owned_session_view(user: User, session_id: uuid.UUID, snapshot: Snapshot | None) -> SessionView:
    """The database path: the owner check (NotFound otherwise), the view, cached for the
    owner's next poll (an admin's look at another's session is not cached)."""
    session = session_service.get_owned_session(user, session_id)
    view = from_session(session)
    if snapshot is not None and session.user_id == user.id:
        read_cache.store(_session_key(session_id), to_entry(view), snapshot)
    return view


def session_for_login_cached(raw_id: str) -> tuple[Snapshot | None, SessionView | None]:
    """The page's status partial from the cache: the view if the login cookie's user (at
    its current session version, not logged out) owns the session."""
    session_id = read_cache.parse_uuid(raw_id)
    login = _cookie_login()
    if session_id is None or login is None:
        return None, None
    snapshot = _fetch_as(login, [_session_key(session_id)])
    if snapshot is None:
        return None, None
    user, entry = _signed_in_user(snapshot, login), snapshot.values[1]
    if user is None or entry is None or entry["user_id"] != login.user_id:
        return snapshot, None
    return snapshot, _view_of(snapshot.blobs[1])


def remember_login(snapshot: Snapshot | None) -> None:
    """Cache the signed-in user as its pages need it (loaded from the database just now)."""
    if snapshot is not None and current_user.is_authenticated:
        value = {
            "session_version": current_user.session_version,
            "email": current_user.email,
            "coins": current_user.coins,
            "is_admin": current_user.is_admin,
        }
        read_cache.store(("user", str(current_user.id)), value, snapshot)


# --- The catalogue ----------------------------------------------------------------------


def _catalogue_entry(items: Catalogue) -> dict:
    return {
        "items": [
            {**asdict(product), "id": str(product.id), "available": available}
            for product, available in items
        ]
    }


@lru_cache(maxsize=read_cache.PARSED_PER_PROCESS)
def _catalogue_of(blob: bytes) -> Catalogue:
    items = []
    for item in read_cache.parsed(blob)["items"]:
        fields = {k: v for k, v in item.items() if k != "available"}
        fields["id"] = uuid.UUID(fields["id"])
        items.append((CatalogueProduct(**fields), bool(item["available"])))
    return tuple(items)


@lru_cache(maxsize=read_cache.PARSED_PER_PROCESS)
def _view_of(blob: bytes) -> SessionView:
    return from_entry(read_cache.parsed(blob))


def catalogue_from_database(snapshot: Snapshot | None) -> Catalogue:
    """The catalogue read from the database, cached for the next reader."""
    items = [
        (
            CatalogueProduct(
                product.id,
                product.name,
                product.price_coins,
                product.provision_action,
                product.duration_minutes,
            ),
            available,
        )
        for product, available in products_service.catalogue()
    ]
    if snapshot is not None:
        read_cache.store(CATALOGUE, _catalogue_entry(items), snapshot)
    return items


def catalogue_for_token_cached(token: str) -> tuple[Snapshot | None, Catalogue | None]:
    """The API catalogue from the cache, if the token is known there."""
    snapshot = read_cache.fetch([_token_key(token), CATALOGUE])
    if snapshot is None:
        return None, None
    owner, entry = snapshot.values
    if owner is None or entry is None:
        return snapshot, None
    return snapshot, _catalogue_of(snapshot.blobs[1])


def catalogue_page() -> Catalogue:
    """The catalogue for the page and, for a signed-in visitor, the header's user
    (``viewer``), both from the cache in one round trip when they are there."""
    login = _cookie_login()
    if login is None:
        snapshot = read_cache.fetch([CATALOGUE])
    else:
        snapshot = _fetch_as(login, [CATALOGUE])
    if snapshot is None:
        return catalogue_from_database(None)
    if login is not None:
        user = _signed_in_user(snapshot, login)
        if user is None:
            remember_login(snapshot)  # loads the user from the database, if still signed in
        else:
            g.viewer = CachedViewer(login.user_id, user["email"], user["coins"], user["is_admin"])
    blob = snapshot.blobs[-1]
    return _catalogue_of(blob) if blob is not None else catalogue_from_database(snapshot)
