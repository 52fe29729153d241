"""Worker-node registry, capacity-safe selection and health bookkeeping."""

from __future__ import annotations

import ipaddress
import random
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from vpsshop.errors import Conflict, ValidationError
from vpsshop.extensions import db
from vpsshop.models import ACTIVE_STATUSES, VpsProduct, VpsSession, Worker, WorkerStatus
from vpsshop.models import vps_product_workers as product_workers
from vpsshop.services import audit, crypto, versions
from vpsshop.services.text import required_text

MAX_URL_LENGTH = 500
MAX_NAME_LENGTH = 100
MAX_SESSIONS_LIMIT = 1000
MAX_TOKEN_LENGTH = 1000
MAX_ERROR_LENGTH = 500
UPDATABLE_FIELDS = frozenset({"name", "base_url", "max_sessions", "token", "status"})

# Labels of letters, digits, "-" and "_" (Docker/compose service names use "_").
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: it travels in an HTTP header


def _invalid_url(reason: str) -> ValidationError:
    return ValidationError(f"Invalid base URL: {reason}.", code="invalid_base_url")


def normalise_base_url(raw: object) -> str:
    """http(s) with a host; no user-info, query or fragment; no trailing slash.
    Raises ValidationError(code="invalid_base_url")."""
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid_url("a URL such as http://10.0.0.5:4000 is required")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _invalid_url(f"it is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _invalid_url("it contains spaces or control characters")
    if "\\" in url:
        # Browsers and some clients read "\" as "/", which would move the host.
        raise _invalid_url("it contains a backslash")
    if not url.isascii():
        raise _invalid_url("it contains non-ASCII characters (use the punycode host name)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid_url(f"it cannot be parsed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid_url("only http:// and https:// are allowed")
    if "@" in parts.netloc:
        raise _invalid_url("user name or password in the URL are not allowed (use the token)")
    if "?" in url or "#" in url:
        raise _invalid_url("a query string (?…) or fragment (#…) is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise _invalid_url("a host is required")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            raise _invalid_url("the IPv6 address is not valid") from None
        host = f"[{host}]"
    elif not _HOSTNAME_RE.fullmatch(host) or len(host) > 253:
        raise _invalid_url(f"{host!r} is not a valid host name")
    if port == 0:
        raise _invalid_url("port 0 is not a valid port")
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _check_name(raw: object) -> str:
    return required_text(
        raw,
        what="worker name",
        max_length=MAX_NAME_LENGTH,
        code="invalid_name",
        missing="A worker name is required.",
    )


def _check_max_sessions(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValidationError("max_sessions must be a whole number.", code="invalid_max_sessions")
    if not 1 <= raw <= MAX_SESSIONS_LIMIT:
        raise ValidationError(
            f"max_sessions must be between 1 and {MAX_SESSIONS_LIMIT}.",
            code="invalid_max_sessions",
        )
    return raw


def _check_token(raw: object) -> str | None:
    """The token to store, or None to clear it ("" and None both clear)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValidationError("The token must be text.", code="invalid_token")
    token = raw.strip()
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.fullmatch(token):
        raise ValidationError(
            f"The token must be at most {MAX_TOKEN_LENGTH} visible ASCII characters, "
            "without spaces.",
            code="invalid_token",
        )
    return token


def _check_status(raw: object) -> str:
    allowed = [status.value for status in WorkerStatus]
    if raw not in allowed:
        raise ValidationError(
            f"The status must be one of: {', '.join(allowed)}.", code="invalid_status"
        )
    return str(raw)


def _name_taken(name: str, *, except_id: uuid.UUID | None = None) -> bool:
    query = select(Worker.id).where(Worker.name == name)
    if except_id is not None:
        query = query.where(Worker.id != except_id)
    return db.session.execute(query).first() is not None


def _name_conflict(name: str) -> Conflict:
    return Conflict(f"A worker named {name!r} already exists.", code="worker_name_taken")


def _flush_unique(name: str) -> None:
    """Flush inside a savepoint, turning a concurrent duplicate name into a Conflict."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise _name_conflict(name) from None


def register_worker(
    name: str,
    base_url: str,
    *,
    max_sessions: int = 3,
    token: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> Worker:
    """Validate and insert a worker (token stored encrypted); audit-logged; caller commits."""
    name = _check_name(name)
    url = normalise_base_url(base_url)
    max_sessions = _check_max_sessions(max_sessions)
    token = _check_token(token)
    if _name_taken(name):
        raise _name_conflict(name)
    worker = Worker(
        name=name,
        base_url=url,
        max_sessions=max_sessions,
        status=WorkerStatus.ACTIVE.value,
        consecutive_failures=0,
        token_encrypted=crypto.encrypt(token) if token else None,
    )
    db.session.add(worker)
    _flush_unique(name)
    audit.record(
        actor_id,
        "worker.register",
        "worker",
        worker.id,
        name=name,
        base_url=url,
        max_sessions=max_sessions,
        has_token=token is not None,
    )
    return worker


def update_worker(worker: Worker, changes: dict, *, actor_id: uuid.UUID | None = None) -> Worker:
    """Apply any of name, base_url, max_sessions, token ("" or None clears), status.

    A key that is absent leaves its field alone; an unknown key is refused. Lowering
    max_sessions below the current load is allowed: the worker gets no new sessions
    until enough of its sessions end. Audit-logged (the token only as set/cleared);
    caller commits.
    """
    if not isinstance(changes, dict):
        raise ValidationError("The changes must be an object.", code="invalid")
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            f"Unknown field(s): {', '.join(map(str, unknown))}. "
            f"Allowed: {', '.join(sorted(UPDATABLE_FIELDS))}.",
            code="unknown_field",
        )
    # Validate everything before touching the row, so a refusal changes nothing.
    new: dict[str, object] = {}
    if "name" in changes:
        new["name"] = _check_name(changes["name"])
        if _name_taken(new["name"], except_id=worker.id):
            raise _name_conflict(new["name"])
    if "base_url" in changes:
        new["base_url"] = normalise_base_url(changes["base_url"])
    if "max_sessions" in changes:
        new["max_sessions"] = _check_max_sessions(changes["max_sessions"])
    if "status" in changes:
        new["status"] = _check_status(changes["status"])
    token_given = "token" in changes
    token = _check_token(changes.get("token"))

    details: dict[str, object] = {}
    for field, value in new.items():
        if getattr(worker, field) != value:
            details[field] = value
            setattr(worker, field, value)
    if token_given:
        worker.token_encrypted = crypto.encrypt(token) if token else None
        details["token"] = "set" if token else "cleared"
    if "name" in details:
        _flush_unique(worker.name)
    if details:
        audit.record(actor_id, "worker.update", "worker", worker.id, **details)
    return worker


def set_worker_status(worker: Worker, status: str, *, actor_id: uuid.UUID | None = None) -> Worker:
    """Enable ("active") or disable ("disabled") a worker; caller commits.

    Disabling keeps the worker's running sessions; it only gets no new ones.
    """
    status = _check_status(status)
    if worker.status != status:
        worker.status = status
        action = "worker.enable" if status == WorkerStatus.ACTIVE else "worker.disable"
        audit.record(actor_id, action, "worker", worker.id, status=status)
    return worker


def worker_token(worker: Worker) -> str | None:
    """The decrypted node token, for the node client only."""
    if not worker.token_encrypted:
        return None
    return crypto.decrypt(worker.token_encrypted)


def _unhealthy_after() -> int:
    return int(current_app.config["NODE_UNHEALTHY_AFTER"])


def is_healthy(worker: Worker) -> bool:
    """Fewer than NODE_UNHEALTHY_AFTER consecutive failures."""
    return (worker.consecutive_failures or 0) < _unhealthy_after()


def active_session_counts(worker_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Sessions in pending/provisioning/ready/stopping per worker."""
    ids = list(worker_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(VpsSession.worker_id, func.count())
        .where(
            VpsSession.worker_id.in_(ids),
            VpsSession.status.in_([status.value for status in ACTIVE_STATUSES]),
        )
        .group_by(VpsSession.worker_id)
    ).all()
    counts = dict.fromkeys(ids, 0)
    counts.update({worker_id: count for worker_id, count in rows})
    return counts


def _eligible_workers_query(product: VpsProduct, exclude: Iterable[uuid.UUID] = ()):
    query = (
        select(Worker)
        .join(product_workers, product_workers.c.worker_id == Worker.id)
        .where(
            product_workers.c.product_id == product.id,
            Worker.status == WorkerStatus.ACTIVE.value,
            Worker.consecutive_failures < _unhealthy_after(),
        )
        .order_by(Worker.id)
    )
    excluded = list(exclude)
    if excluded:
        query = query.where(Worker.id.not_in(excluded))
    return query


def _least_loaded_first(query) -> list[uuid.UUID]:
    """The ids of ``query``'s workers with a free slot by the committed counts, least
    loaded first and in random order among ties (so equal workers share the load).

    One query of ids and counts: loading every candidate as an object and counting in a
    second query (its IN list as long as the node list) made each purchase pay for every
    node (bench: purchase latency at 100 workers)."""
    active = func.count(VpsSession.id)
    rows = db.session.execute(
        query.outerjoin(
            VpsSession,
            (VpsSession.worker_id == Worker.id)
            & VpsSession.status.in_([status.value for status in ACTIVE_STATUSES]),
        )
        .with_only_columns(Worker.id, active)
        .group_by(Worker.id)
        .having(active < Worker.max_sessions)
    ).all()
    random.shuffle(rows)
    return [worker_id for worker_id, _ in sorted(rows, key=lambda row: row[1])]


def _lock_first_free(
    query, candidates: list[uuid.UUID], *, skip_locked: bool
) -> tuple[Worker | None, uuid.UUID | None]:
    """Lock the first of ``candidates``, in their order, that still qualifies (with
    ``skip_locked``: that no other transaction holds), then count its sessions again under
    the lock. Returns the worker if it has a free slot (its lock kept), else None with the
    lock released; and the id that was locked, None when none could be.

    One statement for the whole list: tried one node at a time, a buyer in a rush paid a
    savepoint, a lock attempt and a rollback for every node another buyer held (bench:
    flash sale, about 15 of them per purchase)."""
    savepoint = db.session.begin_nested()
    rank = case({worker_id: index for index, worker_id in enumerate(candidates)}, value=Worker.id)
    worker = db.session.execute(
        query.where(Worker.id.in_(candidates))
        .order_by(None)
        .order_by(rank)
        .limit(1)
        .with_for_update(of=Worker, skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    # Under READ COMMITTED this count runs after the lock is granted, so it sees the
    # sessions that the previous holders of the lock committed.
    if worker is not None and active_session_counts([worker.id])[worker.id] < worker.max_sessions:
        savepoint.commit()  # the lock stays until the caller's transaction ends
        return worker, worker.id
    savepoint.rollback()  # a savepoint's rollback releases the row lock it took
    return None, worker.id if worker is not None else None


def reserve_slot(product: VpsProduct, exclude: Iterable[uuid.UUID] = ()) -> Worker | None:
    """The least loaded of the product's eligible workers with a free slot (random among
    ties), locked FOR UPDATE until the caller's transaction ends; None when none is free.
    The caller assigns the session to it in the same transaction.

    Candidates are ranked by an unlocked count; then the first of them that no other
    purchase holds is locked with ``SKIP LOCKED`` (one statement for the list), so a rush
    of buyers spreads over the nodes instead of queueing on one row (bench: flash sale).
    A node seen full under its lock is dropped and the next free one locked. Only when
    every candidate left is held does a second pass wait for those, one at a time, and
    count again under the lock: a buyer is refused only after every candidate was seen
    full under its lock, so a slot freed or left by a rolled back purchase is never
    missed. A reservation holds at most one worker lock at a time (a full one is released
    before the next is tried), so two reservations can never wait on each other
    crosswise.
    """
    query = _eligible_workers_query(product, exclude)
    left = _least_loaded_first(query)
    while left:
        worker, locked = _lock_first_free(query, left, skip_locked=True)
        if worker is not None:
            return worker
        if locked is None:
            break  # every one left is held by another buyer, or no longer qualifies
        left.remove(locked)  # seen full under its lock
    for worker_id in left:
        worker, _ = _lock_first_free(query, [worker_id], skip_locked=False)
        if worker is not None:
            return worker
    return None


def product_available(product: VpsProduct) -> bool:
    """True when one of the product's active, healthy workers has a free slot (no lock)."""
    return product.id in available_product_ids([product.id])


def available_product_ids(product_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``product_ids`` that ``product_available`` holds for, in one query
    (no lock): a catalogue page costs one round trip, whatever its products and workers."""
    ids = list(product_ids)
    if not ids:
        return set()
    active = (
        select(func.count())
        .where(
            VpsSession.worker_id == Worker.id,
            VpsSession.status.in_([status.value for status in ACTIVE_STATUSES]),
        )
        .correlate(Worker)
        .scalar_subquery()
    )
    query = (
        select(product_workers.c.product_id)
        .join(Worker, Worker.id == product_workers.c.worker_id)
        .where(
            product_workers.c.product_id.in_(ids),
            Worker.status == WorkerStatus.ACTIVE.value,
            Worker.consecutive_failures < _unhealthy_after(),
            active < Worker.max_sessions,
        )
        .distinct()
    )
    return set(db.session.execute(query).scalars())


def record_success(worker: Worker) -> None:
    """A good call or probe: reset failures, set last_seen_at. Caller commits.

    last_error stays for the admin panel; its time tells whether it is still current.
    """
    worker.consecutive_failures = 0
    worker.last_seen_at = datetime.now(UTC)
    db.session.flush()


# How stale "Last seen" may be on a healthy node whose calls keep succeeding.
SEEN_REFRESH_SECONDS = 5.0


def seen_recently(
    consecutive_failures: int, last_seen_at: datetime | None, now: datetime | None = None
) -> bool:
    """True when a success would change nothing on a node's row: no failure to reset and
    ``last_seen_at`` younger than SEEN_REFRESH_SECONDS (``note_seen`` then writes nothing)."""
    if consecutive_failures or last_seen_at is None:
        return False
    now = now or datetime.now(UTC)
    return last_seen_at >= now - timedelta(seconds=SEEN_REFRESH_SECONDS)


def note_seen(worker_id: uuid.UUID) -> None:
    """``record_success`` by id for the lifecycle's node calls. Caller commits.

    Every create and every watch tick of a healthy node succeeds; writing its row each
    time held that row's lock until the job's commit, so buyers picking a node (``FOR
    UPDATE SKIP LOCKED``) passed it over. So: one plain read, then failures to reset go
    through the ORM (the catalogue's version moves: the node may sell again), and a
    healthy node's last_seen_at is written only once it is SEEN_REFRESH_SECONDS old, by a
    statement that moves no polled answer's version.
    """
    row = db.session.execute(
        select(Worker.consecutive_failures, Worker.last_seen_at).where(Worker.id == worker_id)
    ).one_or_none()
    if row is None:
        return
    now = datetime.now(UTC)
    if row.consecutive_failures:
        record_success(db.session.get(Worker, worker_id))
        return
    if seen_recently(row.consecutive_failures, row.last_seen_at, now):
        return
    stale = now - timedelta(seconds=SEEN_REFRESH_SECONDS)
    # A failure counted since the read is newer than this success: it stays.
    db.session.execute(
        update(Worker)
        .where(
            Worker.id == worker_id,
            Worker.consecutive_failures == 0,
            or_(Worker.last_seen_at.is_(None), Worker.last_seen_at < stale),
        )
        .values(last_seen_at=now)
        .execution_options(**{versions.UNPOLLED: True})
    )


def record_failure(worker: Worker, error: str) -> None:
    """A failed call or probe: count it, keep last_error/last_error_at. Caller commits."""
    # Incremented in SQL: two jobs failing on the same node at once both count.
    worker.consecutive_failures = Worker.consecutive_failures + 1
    # The message may quote the node; PostgreSQL cannot store a NUL in text.
    worker.last_error = (error.replace("\x00", "") or "unknown error")[:MAX_ERROR_LENGTH]
    worker.last_error_at = datetime.now(UTC)
    db.session.flush()


def probe_worker(worker: Worker) -> bool:
    """GET {base}/ through the node client and record the outcome; caller commits."""
    # Imported here: the node client reads tokens from this module.
    from vpsshop.services import node_client

    try:
        node_client.probe(worker)
    except node_client.NodeError as exc:
        record_failure(worker, f"probe failed ({exc.kind}): {exc.message}")
        return False
    record_success(worker)
    return True


def probe_all_workers() -> dict[uuid.UUID, bool]:
    """Probe every worker that is not disabled; commits after each one.

    Committing per worker keeps a slow node's probe from holding the row lock of the
    health update (which would stall reservations on the other workers).
    """
    worker_ids = list(
        db.session.execute(
            select(Worker.id)
            .where(Worker.status != WorkerStatus.DISABLED.value)
            .order_by(Worker.id)
        ).scalars()
    )
    db.session.commit()
    results: dict[uuid.UUID, bool] = {}
    for worker_id in worker_ids:
        worker = db.session.get(Worker, worker_id)
        if worker is None or worker.status == WorkerStatus.DISABLED:
            continue  # deleted or disabled since the list was read
        results[worker_id] = probe_worker(worker)
        db.session.commit()
    return results
