"""Versioned read-through cache in Redis for the polled reads, invalidated on every commit.

Polls (a session's status every 2 s, the catalogue) answer from Redis without touching
PostgreSQL. Correctness does not rest on a short lifetime but on invalidation:

- Every committed change of a row an entry is built from bumps that entry's *version*
  (``INCR``) and deletes the entry. The changes are collected from SQLAlchemy's flushes
  (ORM objects) and ORM bulk statements, so no service has to remember to invalidate.
- A reader reads the version together with the entry. On a miss it reads the database
  and stores the entry only if the version is still the one it saw before that read
  (a Lua check-and-set): a change committed while it was reading is never hidden
  behind an older copy.
- A global *generation* is bumped by changes whose rows cannot be told apart (bulk
  statements, product edits); entries carry the generation they were built under.
- Entries live ``READ_CACHE_SECONDS`` (60 s): if Redis cannot be reached when a change
  commits, the previous state is shown for at most that long. When Redis is down the
  readers go to the database, exactly as without a cache.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import redis
from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from vpsshop.models import ApiToken, CoinTransaction, User, VpsProduct, VpsSession, Worker

logger = logging.getLogger(__name__)

PREFIX = "vpsshop:rc:"
GENERATION_KEY = PREFIX + "gen"
# Longer than any read takes: a version must outlive the reads that saw it.
VERSION_TTL_SECONDS = 3600
PENDING = "read_cache_pending"
# Entries the catalogue is built from: which sessions hold a slot, on which healthy worker.
CATALOGUE = ("catalogue", "all")
_SESSION_SLOT_FIELDS = ("status", "worker_id")
_WORKER_CAPACITY_FIELDS = ("status", "max_sessions", "consecutive_failures")
# Bulk UPDATEs of these users' columns need no new generation: the ledger's coin updates,
# whose ledger rows invalidate the user's entry (see CoinTransaction below).
_USER_LEDGER_FIELDS = {"coins"}

# KEYS: entry, version, generation. ARGV: value, ttl, version seen, generation seen.
_STORE_IF_UNCHANGED = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[3] and (redis.call('GET', KEYS[3]) or '') == ARGV[4]
then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
return 0
"""

Key = tuple[str, str]
# Distinct entries parsed and kept per process (a few hundred bytes each).
PARSED_PER_PROCESS = 4096


def entry_key(kind: str, ident: str) -> str:
    return f"{PREFIX}{kind}:{ident}"


def version_key(kind: str, ident: str) -> str:
    return f"{PREFIX}v:{kind}:{ident}"


@dataclass(frozen=True)
class Snapshot:
    """What one ``fetch`` saw: for each of its keys the entry if still valid (or None) and
    the version to store under, and the generation."""

    keys: list[Key]
    values: list[dict[str, Any] | None]
    versions: list[str]
    generation: str
    # The raw values of the plain Redis keys read in the same round trip (``also``).
    also: list[bytes | None] = field(default_factory=list)
    # Each valid entry as Redis holds it: what a reader converts it to can be kept per
    # process by these bytes (the same bytes always hold the same entry).
    blobs: list[bytes | None] = field(default_factory=list)

    def version(self, key: Key) -> str | None:
        """The version ``key`` had when fetched; None for a key this fetch did not read."""
        return self.versions[self.keys.index(key)] if key in self.keys else None


def _redis() -> redis.Redis:
    return current_app.extensions["redis"]


def enabled() -> bool:
    return bool(current_app.config.get("READ_CACHE_ENABLED", True))


def fetch(keys: list[Key], also: list[str] = ()) -> Snapshot | None:
    """Entries, their versions and the generation in one round trip, with the plain Redis
    keys ``also`` (a logout revocation); None if Redis is down (or the cache is off): then
    the caller reads the database and stores nothing."""
    if not enabled():
        return None
    names = [entry_key(*k) for k in keys] + [version_key(*k) for k in keys]
    names += [GENERATION_KEY, *also]
    try:
        raw = _redis().mget(names)
    except redis.RedisError:
        logger.warning("read cache unavailable: redis error on fetch")
        return None
    count = len(keys)
    generation = (raw[2 * count] or b"").decode()
    values: list[dict[str, Any] | None] = []
    blobs: list[bytes | None] = []
    for blob in raw[:count]:
        value = parsed(blob) if blob else None
        # Built under an older generation: as good as missing.
        valid = value is not None and value.get("_g") == generation
        values.append(value if valid else None)
        blobs.append(blob if valid else None)
    versions = [(v or b"").decode() for v in raw[count : 2 * count]]
    return Snapshot(list(keys), values, versions, generation, raw[2 * count + 1 :], blobs)


@lru_cache(maxsize=PARSED_PER_PROCESS)
def parsed(blob: bytes) -> dict[str, Any]:
    """An entry's JSON, parsed once per process per content: shared, so read, never change."""
    return json.loads(blob)


def store(key: Key, value: dict[str, Any], snapshot: Snapshot) -> bool:
    """Keep ``value`` unless ``key`` changed (or the generation moved) since ``snapshot``
    was fetched, before the database read that built it. True when stored; a key the
    snapshot did not read is never stored (there is no version to check it against)."""
    version, generation = snapshot.version(key), snapshot.generation
    if version is None:
        return False
    blob = json.dumps({**value, "_g": generation}, separators=(",", ":"))
    ttl = int(current_app.config.get("READ_CACHE_SECONDS", 60))
    try:
        stored = _redis().eval(
            _STORE_IF_UNCHANGED,
            3,
            entry_key(*key),
            version_key(*key),
            GENERATION_KEY,
            blob,
            max(ttl, 1),
            version,
            generation,
        )
    except redis.RedisError:
        logger.warning("read cache unavailable: redis error on store")
        return False
    return bool(stored)


def invalidate(keys: Iterable[Key], everything: bool = False) -> None:
    """Bump the versions of ``keys`` and drop their entries (``everything``: the generation)."""
    keys = set(keys)
    if not keys and not everything:
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for key in keys:
            pipe.incr(version_key(*key))
            pipe.expire(version_key(*key), VERSION_TTL_SECONDS)
            pipe.delete(entry_key(*key))
        if everything:
            pipe.incr(GENERATION_KEY)
        pipe.execute()
    except redis.RedisError:
        logger.warning(
            "read cache not invalidated: redis error keys=%d everything=%s", len(keys), everything
        )


# --- What a commit changes -------------------------------------------------------------


def _changed(obj: object, fields: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _keys_of(obj: object, change: str) -> tuple[set[Key], bool]:
    """The entries a flushed object affects (``change``: new, dirty or deleted), and
    whether it needs a new generation."""
    keys: set[Key] = set()
    moved = change != "dirty"
    if isinstance(obj, VpsSession):
        keys.add(("session", str(obj.id)))
        if moved or _changed(obj, _SESSION_SLOT_FIELDS):
            keys.add(CATALOGUE)
    elif isinstance(obj, CoinTransaction):
        # Every coin change writes a ledger row: the user's entry carries the balance.
        keys.add(("user", str(obj.user_id)))
        if obj.session_id is not None:  # a refund row: the session shows "refunded"
            keys.add(("session", str(obj.session_id)))
    elif isinstance(obj, ApiToken):
        keys.add(("token", obj.token_hash))
    elif isinstance(obj, User):
        if change == "deleted":  # its tokens and sessions go by ON DELETE CASCADE, unseen
            return {("user", str(obj.id))}, True
        keys.add(("user", str(obj.id)))
    elif isinstance(obj, Worker):
        if moved or _changed(obj, _WORKER_CAPACITY_FIELDS):
            keys.add(CATALOGUE)
    elif isinstance(obj, VpsProduct):
        # Session entries carry the product's name; products change rarely.
        return {CATALOGUE}, True
    return keys, False


def _pending(session: Session) -> dict[str, Any]:
    return session.info.setdefault(PENDING, {"keys": set(), "everything": False})


def _after_flush(session: Session, _context: Any) -> None:
    # After the flush the new/dirty/deleted sets and attribute histories are still the
    # pre-flush ones (SQLAlchemy's documented after_flush state).
    pending = _pending(session)
    changes = [("new", session.new), ("dirty", session.dirty), ("deleted", session.deleted)]
    for change, objects in changes:
        for obj in objects:
            if change == "dirty" and not session.is_modified(obj):
                continue
            keys, everything = _keys_of(obj, change)
            pending["keys"] |= keys
            pending["everything"] = pending["everything"] or everything


def _bulk_needs_generation(state: ORMExecuteState) -> bool:
    mapper = state.bind_mapper
    entity = mapper.class_ if mapper is not None else None
    if entity not in (VpsSession, ApiToken, User, Worker, VpsProduct):
        return False
    if entity is User and state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        names = {getattr(column, "key", str(column)) for column in values}
        if values and names <= _USER_LEDGER_FIELDS:
            return False
    return True


def _on_execute(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and _bulk_needs_generation(state):
        _pending(state.session)["everything"] = True


def _after_commit(session: Session) -> None:
    # SQLAlchemy also reports a released savepoint here; only the outermost commit makes
    # the changes visible, so only it invalidates (earlier, a reader could cache the past).
    if session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING, None)
    if not pending or not has_app_context() or "redis" not in current_app.extensions:
        return
    invalidate(pending["keys"], pending["everything"])


def _forget(session: Session, transaction: Any) -> None:
    # The outermost transaction ended without a commit (after_commit took the keys
    # otherwise): nothing changed. A savepoint's end keeps them: dropping the outer
    # transaction's changes would be wrong, and extra invalidations are harmless.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(PENDING, None)


_installed = False


def install() -> None:
    """Listen to every ORM session of the process (web requests, jobs, CLI); idempotent."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_transaction_end", _forget)
    _installed = True


def parse_uuid(raw: str) -> uuid.UUID | None:
    """A UUID or None: cache lookups never raise on a malformed id."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        return None
