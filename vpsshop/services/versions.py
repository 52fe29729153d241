"""Versions of what the polled answers show, bumped in Redis on every commit that changes it.

A polled answer's ETag is built from the versions of what it shows (see ``vpsshop/web/
conditional.py``). The changes are collected from SQLAlchemy's flushes (ORM objects) and
bulk statements, so no service has to remember to bump anything.

- A version is a random token, never a counter: a flushed or restarted Redis can never
  hand out a value an old ETag was built from. A reader that finds no version creates
  one (``SET NX``), so every ETag names a value that exists.
- Versions are bumped at each flush (before the commit makes the change visible) and
  again after the commit. A client holding an ETag from before a change therefore never
  gets a 304 once the change is committed; a reader racing the commit can at worst build
  an ETag that the after-commit bump makes stale at once, which costs one extra 200.
- A change whose rows cannot be told apart (a bulk statement, a product edit, a deleted
  user) bumps the generation, which every ETag includes.
- After the commit, each changed session's channel gets a ``PUBLISH`` so that its open
  event streams wake up without asking the database.

When Redis is down the readers get no versions and answer in full, without an ETag.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from vpsshop import redis_keys
from vpsshop.models import (
    CoinTransaction,
    Payment,
    User,
    VpsProduct,
    VpsSession,
    WaitlistEntry,
    Worker,
)
from vpsshop.services.after_commit import AfterCommit

logger = logging.getLogger(__name__)

Key = tuple[str, str]
GENERATION: Key = ("generation", "all")
CATALOGUE: Key = ("catalogue", "all")
# A version outlives every ETag a browser still holds for it; one that expired is only
# recreated, which costs its holders one full answer.
VERSION_TTL_SECONDS = 7 * 24 * 3600
# An execution option of bulk statements whose changed rows are bumped by the ORM objects
# flushed beside them (the ledger's coin updates and their ledger rows).
COVERED = "versions_covered"
# An execution option of bulk statements that change no field a polled answer shows (a
# node's last_seen_at, which only the admin panel reads).
UNPOLLED = "versions_unpolled"
# expires_at: the catalogue says when the next slot frees.
_SESSION_SLOT_FIELDS = ("status", "worker_id", "expires_at")
_WORKER_CAPACITY_FIELDS = ("status", "max_sessions", "consecutive_failures")
_BULK_ENTITIES = (VpsSession, User, Worker, VpsProduct)


def session_key(session_id: Any) -> Key:
    return ("session", str(session_id))


def user_key(user_id: Any) -> Key:
    return ("user", str(user_id))


def _name(key: Key) -> str:
    return redis_keys.key("v", *key)


def session_channel(session_id: Any) -> str:
    """The pub/sub channel told after every committed change of a session."""
    return redis_keys.key("events", "session", str(session_id))


def _redis() -> redis.Redis:
    return current_app.extensions["redis"]


def current(keys: Sequence[Key]) -> list[str] | None:
    """The versions of ``keys`` and of the generation, in one round trip, creating those that
    do not exist yet; None when Redis cannot be reached."""
    names = [_name(key) for key in (*keys, GENERATION)]
    try:
        pipe = _redis().pipeline(transaction=True)
        for name in names:
            pipe.set(name, secrets.token_hex(8), nx=True, ex=VERSION_TTL_SECONDS)
        pipe.mget(names)
        values = pipe.execute()[-1]
    except redis.RedisError:
        logger.warning("versions unavailable: redis error")
        return None
    return [value.decode() for value in values]


def bump(keys: Iterable[Key], everything: bool = False, publish: Iterable[str] = ()) -> None:
    """Give ``keys`` (``everything``: the generation too) new versions; tell ``publish``."""
    keys = set(keys)
    if everything:
        keys.add(GENERATION)
    channels = set(publish)
    if not keys and not channels:
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for key in keys:
            pipe.set(_name(key), secrets.token_hex(8), ex=VERSION_TTL_SECONDS)
        for channel in channels:
            pipe.publish(channel, "changed")
        pipe.execute()
    except redis.RedisError:
        logger.warning("versions not bumped: redis error keys=%d", len(keys))


# --- What a flush changes ---------------------------------------------------------------


def _changed(obj: object, fields: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _keys_of(obj: object, change: str) -> tuple[set[Key], bool]:
    """The versions a flushed object moves (``change``: new, dirty or deleted), and whether
    it moves the generation."""
    keys: set[Key] = set()
    moved = change != "dirty"
    if isinstance(obj, VpsSession):
        keys.add(session_key(obj.id))
        if moved or _changed(obj, _SESSION_SLOT_FIELDS):
            keys.add(CATALOGUE)
    elif isinstance(obj, CoinTransaction):
        # Every coin change writes a ledger row: the user's version carries the balance.
        keys.add(user_key(obj.user_id))
        if obj.session_id is not None:  # a refund row: the session shows "refunded"
            keys.add(session_key(obj.session_id))
    elif isinstance(obj, User):
        # A deleted user's sessions go by ON DELETE CASCADE, unseen by the ORM.
        return {user_key(obj.id)}, change == "deleted"
    elif isinstance(obj, Worker):
        if moved or _changed(obj, _WORKER_CAPACITY_FIELDS):
            keys.add(CATALOGUE)
    elif isinstance(obj, Payment):
        # The buyer's payment pages poll under the user's version.
        keys.add(user_key(obj.user_id))
    elif isinstance(obj, WaitlistEntry):
        # The catalogue shows places in line and the queue's length.
        keys.add(CATALOGUE)
    elif isinstance(obj, VpsProduct):
        # Sessions show their product's name and kind; products change rarely.
        return {CATALOGUE}, True
    return keys, False


def _after_flush(session: Session, _context: Any) -> None:
    # After the flush the new/dirty/deleted sets and attribute histories are still the
    # pre-flush ones (SQLAlchemy's documented after_flush state).
    keys: set[Key] = set()
    everything = False
    for change, objects in (
        ("new", session.new),
        ("dirty", session.dirty),
        ("deleted", session.deleted),
    ):
        for obj in objects:
            if change == "dirty" and not session.is_modified(obj):
                continue
            obj_keys, obj_everything = _keys_of(obj, change)
            keys |= obj_keys
            everything = everything or obj_everything
    if keys or everything:
        pending = _committed.pending(session)
        pending["keys"] |= keys
        pending["everything"] = pending["everything"] or everything
        _bump_now(keys, everything)


def _on_execute(state: ORMExecuteState) -> None:
    options = state.execution_options
    if not (state.is_update or state.is_delete) or options.get(COVERED) or options.get(UNPOLLED):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ in _BULK_ENTITIES:
        _committed.pending(state.session)["everything"] = True
        _bump_now((), True)


def _bump_now(keys: Iterable[Key], everything: bool) -> None:
    if has_app_context() and "redis" in current_app.extensions:
        bump(keys, everything)


def _bump_committed(pending: dict[str, Any]) -> None:
    if not has_app_context() or "redis" not in current_app.extensions:
        return
    channels = [session_channel(ident) for kind, ident in pending["keys"] if kind == "session"]
    bump(pending["keys"], pending["everything"], channels)


# The outermost commit bumps again what its flushes bumped. A transaction that ends without
# a commit made nothing visible; its flush-time bumps cost readers one extra full answer.
_committed = AfterCommit(
    "versions_pending", lambda: {"keys": set(), "everything": False}, _bump_committed
)


def install() -> None:
    """Listen to every ORM session of the process (web requests, jobs, CLI); idempotent."""
    if _committed.installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_execute)
    _committed.install()
