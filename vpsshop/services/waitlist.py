"""The waitlist of sold-out products: join, leave, places in line, and handing freed slots
to the first waiter who can pay (DESIGN.md "A session's time").

Lock order of a fulfilment: the product row (one fulfilment per product at a time, so the
line is served strictly in order), the waiting entry, then what a purchase locks (workers,
the session, the balance). A purchase locks the buyer's own entry before the workers, so
no two of them ever wait on each other crosswise.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError

from vpsshop import redis_keys
from vpsshop.errors import Conflict, InsufficientCoins, NoCapacity, NotFound, ServiceError
from vpsshop.extensions import db
from vpsshop.models import (
    User,
    VpsProduct,
    VpsSession,
    WaitlistEntry,
    WaitlistStatus,
)
from vpsshop.models.types import utcnow
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue, get_redis
from vpsshop.services import capacity, notices

log = logging.getLogger(__name__)
LIST_LIMIT = 100
SWEEP_BATCH = 500
SKIPPED_REASON = "Not enough coins when a slot freed up ({price} needed, {coins} available)."


class SlotAvailable(ServiceError):
    code = "available"
    status = 409


def _open_flag() -> str:
    # Set while anyone may be waiting: slot-freeing commits enqueue a fulfilment only then.
    return redis_keys.key("waitlist-open")


def _hours() -> float:
    return float(current_app.config["WAITLIST_HOURS"])


def is_open() -> bool:
    """True when someone may be waiting (the flag a join sets); True when Redis is away."""
    try:
        return bool(get_redis().exists(_open_flag()))
    except RedisError:
        return True


def _waiting(product_id: uuid.UUID, now: datetime):
    return select(WaitlistEntry).where(
        WaitlistEntry.product_id == product_id,
        WaitlistEntry.status == WaitlistStatus.WAITING.value,
        WaitlistEntry.expires_at > now,
    )


def _own_entry(user_id: uuid.UUID, product_id: uuid.UUID, now: datetime):
    return _waiting(product_id, now).where(WaitlistEntry.user_id == user_id)


def position(entry: WaitlistEntry, now: datetime | None = None) -> int | None:
    """1 for the first in line; None for an entry that is not waiting."""
    now = now or utcnow()
    if entry.status != WaitlistStatus.WAITING or entry.expires_at <= now:
        return None
    ahead = db.session.execute(
        _waiting(entry.product_id, now)
        .where(tuple_(WaitlistEntry.created_at, WaitlistEntry.id) < (entry.created_at, entry.id))
        .with_only_columns(func.count())
    ).scalar_one()
    return ahead + 1


def waiting_counts(product_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many people wait for each product (one query)."""
    if not product_ids:
        return {}
    rows = db.session.execute(
        select(WaitlistEntry.product_id, func.count())
        .where(
            WaitlistEntry.product_id.in_(product_ids),
            WaitlistEntry.status == WaitlistStatus.WAITING.value,
            WaitlistEntry.expires_at > utcnow(),
        )
        .group_by(WaitlistEntry.product_id)
    ).all()
    counts = dict.fromkeys(product_ids, 0)
    counts.update(dict(rows))
    return counts


def user_positions(user_id: uuid.UUID, product_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    """The user's waiting entries among ``product_ids``: product id -> (entry, position)."""
    if not product_ids:
        return {}
    now = utcnow()
    entries = db.session.execute(
        select(WaitlistEntry).where(
            WaitlistEntry.user_id == user_id,
            WaitlistEntry.product_id.in_(product_ids),
            WaitlistEntry.status == WaitlistStatus.WAITING.value,
            WaitlistEntry.expires_at > now,
        )
    ).scalars()
    return {entry.product_id: (entry, position(entry, now)) for entry in entries}


def _product(product_id: uuid.UUID) -> VpsProduct:
    product = db.session.get(VpsProduct, product_id)
    if product is None or not product.is_active:
        raise NotFound("No such product.", code="product_not_found")
    return product


def join(user: User, product_id: uuid.UUID) -> tuple[WaitlistEntry, bool]:
    """Put ``user`` in line for a sold-out product; commits. Returns (entry, created).

    Joining twice keeps the first place. Raises NotFound for an unknown or inactive
    product and SlotAvailable (409 ``available``) when a slot is free for this user now.
    """
    product = _product(product_id)
    now = utcnow()
    existing = db.session.execute(_own_entry(user.id, product.id, now)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    free = capacity.free_slots([product.id])[product.id]
    if free > waiting_counts([product.id])[product.id]:
        raise SlotAvailable("A slot is free right now: buy the server instead of waiting.")
    entry = WaitlistEntry(
        user_id=user.id,
        product_id=product.id,
        status=WaitlistStatus.WAITING.value,
        created_at=now,
        expires_at=now + timedelta(hours=_hours()),
    )
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:
        # A parallel join of the same user won: the one waiting entry stays theirs.
        db.session.rollback()
        found = db.session.execute(_own_entry(user.id, product.id, utcnow())).scalar_one_or_none()
        if found is None:
            raise
        return found, False
    # A lapsed entry of this user stays in the history; only the waiting one is unique.
    db.session.commit()
    try:
        get_redis().set(_open_flag(), 1, ex=int(_hours() * 3600) + 3600)
    except RedisError:
        log.warning("waitlist flag not set product_id=%s; the sweep fulfils", product.id)
    # A slot may have freed between the check and the commit: look once more.
    enqueue_fulfil([product.id])
    log.info("waitlist join entry_id=%s product_id=%s", entry.id, product.id)
    return entry, True


def list_entries(user: User) -> list[WaitlistEntry]:
    """The user's entries, newest first (waiting, fulfilled, skipped, cancelled, expired)."""
    return list(
        db.session.execute(
            select(WaitlistEntry)
            .where(WaitlistEntry.user_id == user.id)
            .order_by(WaitlistEntry.created_at.desc())
            .limit(LIST_LIMIT)
        ).scalars()
    )


def get_owned_entry(user: User, entry_id: uuid.UUID) -> WaitlistEntry:
    entry = db.session.get(WaitlistEntry, entry_id)
    if entry is None or (entry.user_id != user.id and not user.is_admin):
        raise NotFound("No such waitlist entry.", code="waitlist_entry_not_found")
    return entry


def leave(user: User, entry_id: uuid.UUID) -> WaitlistEntry:
    """Leave the line (cancelled); commits. An entry no longer waiting stays as it is,
    except a fulfilled one: its purchase happened, and 409 ``already_fulfilled`` says so."""
    get_owned_entry(user, entry_id)
    db.session.rollback()
    entry = db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.id == entry_id).with_for_update()
    ).scalar_one()
    if entry.status == WaitlistStatus.FULFILLED:
        db.session.rollback()
        raise Conflict(
            "This place in line already became a purchase: see My servers.",
            code="already_fulfilled",
        )
    if entry.status == WaitlistStatus.WAITING:
        entry.status = WaitlistStatus.CANCELLED.value
        entry.reason = "Left the line."
    db.session.commit()
    return entry


# --- A purchase and the line -------------------------------------------------------------


def refuse_if_queue_ahead(product: VpsProduct, user_id: uuid.UUID) -> WaitlistEntry | None:
    """Before a purchase takes a slot: NoCapacity when the people waiting ahead of this
    buyer need every free slot, else the buyer's own waiting entry, locked, or None.

    One query when the buyer is not in line (every purchase asks, few buyers wait): the
    others waiting are then all ahead."""
    now = utcnow()
    others, mine = db.session.execute(
        _waiting(product.id, now).with_only_columns(
            func.count().filter(WaitlistEntry.user_id != user_id),
            func.count().filter(WaitlistEntry.user_id == user_id),
        )
    ).one()
    own = None
    if mine:
        own = db.session.execute(
            _own_entry(user_id, product.id, now).with_for_update()
        ).scalar_one_or_none()
    if own is not None:
        others = db.session.execute(
            _waiting(product.id, now)
            .with_only_columns(func.count())
            .where(tuple_(WaitlistEntry.created_at, WaitlistEntry.id) < (own.created_at, own.id))
        ).scalar_one()
    # Slots beyond those the people ahead wait for are anyone's.
    if others and others >= capacity.free_slots([product.id])[product.id]:
        db.session.rollback()
        people = "1 person is" if others == 1 else f"{others} people are"
        raise NoCapacity(
            f"Sold out: {people} waiting for this server. Join the waitlist; you were not charged."
        )
    return own


def mark_fulfilled(entry: WaitlistEntry, session: VpsSession) -> None:
    """The entry became ``session`` (caller's transaction)."""
    entry.status = WaitlistStatus.FULFILLED.value
    entry.session_id = session.id
    entry.reason = None


# --- Freed slots -------------------------------------------------------------------------


@dataclass
class Outcome:
    fulfilled: list[tuple[uuid.UUID, uuid.UUID]]  # (entry id, session id)
    skipped: list[uuid.UUID]


def _skip(entry: WaitlistEntry, product: VpsProduct, reason: str) -> None:
    """Pass over a waiter who cannot buy now, tell them, and commit."""
    entry.status = WaitlistStatus.SKIPPED.value
    entry.reason = reason
    notices.notify(
        entry.user_id,
        "waitlist_skipped",
        {"product_name": product.name},
        dedupe_key=f"waitlist_skipped:{entry.id}",
    )
    db.session.commit()
    log.info("waitlist skipped entry_id=%s product_id=%s", entry.id, product.id)


def fulfil(product_id: uuid.UUID) -> Outcome:
    """Hand the product's free slots to the line, first come first served; commits.

    Each waiter's purchase is one transaction with the slot it takes (purchase.take_slot):
    a waiter is charged only when the slot is theirs. One who cannot pay is ``skipped``
    and the next one is tried.
    """
    from vpsshop.services import purchase

    outcome = Outcome([], [])
    while True:
        product = db.session.execute(
            select(VpsProduct).where(VpsProduct.id == product_id).with_for_update()
        ).scalar_one_or_none()
        if product is None or not product.is_active:
            db.session.rollback()
            return outcome
        entry = db.session.execute(
            _waiting(product_id, utcnow())
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            .limit(1)
            .with_for_update()
        ).scalar_one_or_none()
        if entry is None:
            db.session.rollback()
            return outcome
        waiter = db.session.get(User, entry.user_id)
        if waiter.coins_unrecovered:
            # An account on hold buys nothing, in line or not (403 account_on_hold).
            _skip(entry, product, "Your account is on hold: an admin must settle it first.")
            outcome.skipped.append(entry.id)
            continue
        try:
            with db.session.begin_nested():
                session = purchase.take_slot(entry.user_id, product)
        except NoCapacity:
            db.session.rollback()
            return outcome
        except InsufficientCoins:
            coins = db.session.get(User, entry.user_id).coins
            _skip(entry, product, SKIPPED_REASON.format(price=product.price_coins, coins=coins))
            outcome.skipped.append(entry.id)
            continue
        mark_fulfilled(entry, session)
        notices.notify(
            entry.user_id,
            "waitlist_fulfilled",
            {
                "product_name": product.name,
                "session_id": str(session.id),
                "price_coins": product.price_coins,
            },
            dedupe_key=f"waitlist_fulfilled:{entry.id}",
        )
        db.session.commit()
        outcome.fulfilled.append((entry.id, session.id))
        log.info(
            "waitlist fulfilled entry_id=%s session_id=%s product_id=%s",
            entry.id,
            session.id,
            product_id,
        )
        try:
            purchase.start_session(session)
        except ServiceError:
            pass  # Redis down: refunded at once by start_session, the entry stays fulfilled


def enqueue_fulfil(product_ids: list[uuid.UUID]) -> None:
    """Enqueue a fulfilment for each product; Redis down leaves them to the sweep."""
    try:
        queue = get_queue()
        for product_id in product_ids:
            queue.enqueue("jobs.waitlist.fulfil_product", str(product_id), **DEFAULT_JOB_OPTIONS)
    except RedisError:
        log.warning("waitlist fulfilment not enqueued; the sweep fulfils")


def expire_entries(now: datetime | None = None) -> int:
    """Waiting entries past their time leave the line (``expired``); commits."""
    now = now or utcnow()
    entries = db.session.execute(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.status == WaitlistStatus.WAITING.value,
            WaitlistEntry.expires_at <= now,
        )
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).scalars()
    count = 0
    for entry in entries:
        entry.status = WaitlistStatus.EXPIRED.value
        entry.reason = f"Waited {_hours():g} hours without a free slot."
        count += 1
    db.session.commit()
    return count


def sweep() -> int:
    """The safety net run by the periodic sweep: expire old entries, then serve every
    product with people waiting and a free slot. Returns the purchases made."""
    expire_entries()
    ids = capacity.products_with_waiters(None)
    free = capacity.free_slots(ids)
    db.session.rollback()
    made = 0
    for product_id in ids:
        if free.get(product_id, 0) > 0:
            made += len(fulfil(product_id).fulfilled)
    return made


# --- What the catalogue shows -------------------------------------------------------------


@dataclass(frozen=True)
class ProductTime:
    """A product's slots as the catalogue shows them, for one viewer."""

    free_slots: int
    waiting: int
    # The viewer's own waiting entry and place, when they are in line.
    entry: WaitlistEntry | None
    position: int | None
    # When the viewer's slot (or the next one, for someone not in line) should free.
    next_slot_at: datetime | None

    @property
    def available(self) -> bool:
        """A slot is free for a new buyer: more free slots than people waiting."""
        return self.free_slots > self.waiting

    @property
    def open_slots(self) -> int:
        """Free slots nobody in line is waiting for."""
        return max(0, self.free_slots - self.waiting)

    @property
    def seconds_to_next_slot(self) -> float | None:
        if self.next_slot_at is None:
            return None
        return max(0.0, (self.next_slot_at - utcnow()).total_seconds())


def catalogue_times(
    product_ids: list[uuid.UUID], user_id: uuid.UUID | None
) -> dict[uuid.UUID, ProductTime]:
    """Free slots, line length, the viewer's place and the expected next slot per product
    (four queries, whatever the number of products)."""
    free = capacity.free_slots(product_ids)
    waiting = waiting_counts(product_ids)
    mine = user_positions(user_id, product_ids) if user_id is not None else {}
    places = {
        product_id: (mine[product_id][1] if product_id in mine else waiting[product_id] + 1)
        for product_id in product_ids
    }
    # Slots free now serve the first places in line; the rest wait for running ends.
    needed = {pid: places[pid] - free[pid] for pid in product_ids}
    ends = capacity.slot_ends(product_ids, max([1, *needed.values()]))
    times = {}
    for product_id in product_ids:
        entry, place = mine.get(product_id, (None, None))
        expected = (
            None
            if needed[product_id] <= 0
            else capacity.expected_at(ends[product_id], needed[product_id])
        )
        times[product_id] = ProductTime(
            free[product_id], waiting[product_id], entry, place, expected
        )
    return times
