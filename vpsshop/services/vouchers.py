"""Vouchers: created by admins (one or a batch, audited), redeemed once per user.

Redemption is race-safe by the database alone, never by check-then-act: one conditional
``UPDATE ... SET redemptions = redemptions + 1 WHERE redemptions < max_redemptions``
takes a use (PostgreSQL re-checks the condition after a concurrent winner's commit, so a
single-use code has exactly one winner), a check constraint forbids more uses than
allowed, and a unique index on (voucher, user) refuses a second redemption by the same
user, undoing the use and the credit with it (a savepoint).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from vpsshop.errors import Conflict, NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.models import CoinTransaction, User, Voucher, VoucherRedemption
from vpsshop.models.types import utcnow
from vpsshop.services import audit, email_verification, ledger, notices, voucher_attempts
from vpsshop.services.text import is_storable
from vpsshop.services.voucher_codes import generate_code, is_valid_custom_code, normalise_code

MAX_COINS = ledger.MAX_AMOUNT
MAX_REDEMPTIONS = 1_000_000
MAX_BATCH = 1000
NOTE_MAX = 500

NOT_FOUND = "No valid voucher has this code. Check it and try again."


def _not_found() -> NotFound:
    # Unknown, inactive and expired codes get the same answer: it tells a guesser nothing.
    return NotFound(NOT_FOUND, code="voucher_not_found")


@dataclass(frozen=True)
class Redeemed:
    """A successful redemption: the voucher, its ledger row and the new balance."""

    voucher_id: uuid.UUID
    code: str
    transaction: CoinTransaction
    balance: int


# --- validation ---------------------------------------------------------------------------


def _whole_number(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            f"{field} must be a whole number from {low} to {high:,}.", code=f"invalid_{field}"
        )
    return value


def check_expires_at(value: object) -> datetime | None:
    """None (never expires), or an aware moment in the future; ISO 8601 text is read, a
    moment without an offset is taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(
                "expires_at must be an ISO 8601 date and time, e.g. 2027-01-31T23:59:00Z.",
                code="invalid_expires_at",
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError(
            "expires_at must be an ISO 8601 date and time.", code="invalid_expires_at"
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError("expires_at is out of range.", code="invalid_expires_at") from None
    if value <= utcnow():
        raise ValidationError("expires_at must be in the future.", code="invalid_expires_at")
    return value


def check_note(note: object) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise ValidationError("note must be text.", code="invalid_note")
    note = note.strip()
    if len(note) > NOTE_MAX or not is_storable(note):
        raise ValidationError(
            f"note must be at most {NOTE_MAX} characters of valid text.", code="invalid_note"
        )
    return note


def check_custom_code(code: object) -> str:
    """An admin-chosen code, normalised: 4-32 letters, digits and inner dashes."""
    if not isinstance(code, str) or normalise_code(code) is None:
        raise ValidationError(
            "code must be 4 to 32 letters, digits and inner dashes.", code="invalid_code"
        )
    normalised = normalise_code(code)
    assert normalised is not None and is_valid_custom_code(normalised)
    return normalised


# --- creating -----------------------------------------------------------------------------


def _fresh_codes(count: int) -> list[str]:
    codes: set[str] = set()
    # Bounded: with 59 random bits a collision is already improbable once.
    for _ in range(10):
        while len(codes) < count:
            codes.add(generate_code())
        taken = set(
            db.session.execute(select(Voucher.code).where(Voucher.code.in_(codes))).scalars()
        )
        if not taken:
            return sorted(codes)
        codes -= taken
    raise RuntimeError("could not draw unused voucher codes")


def create_vouchers(
    *,
    coins: object,
    max_redemptions: object = 1,
    expires_at: object = None,
    code: object = None,
    count: object = 1,
    note: object = None,
    actor_id: uuid.UUID | None,
) -> list[Voucher]:
    """Create ``count`` vouchers (one when ``code`` is chosen) in the caller's transaction,
    with one audit entry; raises ``ValidationError`` or ``Conflict`` (``voucher_code_taken``)."""
    coins = _whole_number(coins, "coins", 1, MAX_COINS)
    max_redemptions = _whole_number(max_redemptions, "max_redemptions", 1, MAX_REDEMPTIONS)
    count = _whole_number(count, "count", 1, MAX_BATCH)
    expires = check_expires_at(expires_at)
    note = check_note(note)
    if code is not None:
        if count != 1:
            raise ValidationError(
                "A chosen code makes one voucher: count must be 1.", code="invalid_count"
            )
        codes = [check_custom_code(code)]
        if db.session.execute(select(Voucher.id).where(Voucher.code == codes[0])).first():
            raise Conflict("A voucher with this code exists already.", code="voucher_code_taken")
    else:
        codes = _fresh_codes(count)
    batch_id = uuid.uuid4()
    vouchers = [
        Voucher(
            code=one,
            coins=coins,
            max_redemptions=max_redemptions,
            redemptions=0,
            expires_at=expires,
            is_active=True,
            note=note,
            batch_id=batch_id,
            created_by_id=actor_id,
        )
        for one in codes
    ]
    try:
        with db.session.begin_nested():
            db.session.add_all(vouchers)
    except IntegrityError:  # a concurrent create took the chosen code
        raise Conflict(
            "A voucher with this code exists already.", code="voucher_code_taken"
        ) from None
    details = {
        "coins": coins,
        "max_redemptions": max_redemptions,
        "expires_at": expires,
        "count": count,
        "note": note,
    }
    # Codes are as good as coins: the audit trail names vouchers by id, never by code.
    if count == 1:
        audit.record(actor_id, "voucher.create", "voucher", vouchers[0].id, **details)
    else:
        audit.record(actor_id, "voucher.create_batch", "voucher_batch", batch_id, **details)
    return vouchers


def deactivate(voucher: Voucher, *, actor_id: uuid.UUID | None) -> bool:
    """Stop ``voucher`` from being redeemed (for good), audited; False if it was already."""
    if not voucher.is_active:
        return False
    voucher.is_active = False
    voucher.deactivated_at = utcnow()
    audit.record(
        actor_id,
        "voucher.deactivate",
        "voucher",
        voucher.id,
        redemptions=voucher.redemptions,
        max_redemptions=voucher.max_redemptions,
    )
    return True


def deactivate_many(ids: Sequence[uuid.UUID], *, actor_id: uuid.UUID | None) -> int:
    """Deactivate the vouchers with ``ids``; how many were active."""
    rows = db.session.execute(select(Voucher).where(Voucher.id.in_(list(ids)))).scalars()
    return sum(deactivate(voucher, actor_id=actor_id) for voucher in rows)


# --- redeeming ----------------------------------------------------------------------------


def _why_refused(code: str, user_id: uuid.UUID) -> Exception:
    voucher = db.session.execute(select(Voucher).where(Voucher.code == code)).scalar_one_or_none()
    if voucher is None or not voucher.is_active:
        return _not_found()
    if voucher.expires_at is not None and voucher.expires_at <= utcnow():
        return _not_found()
    mine = db.session.execute(
        select(VoucherRedemption.id).where(
            VoucherRedemption.voucher_id == voucher.id, VoucherRedemption.user_id == user_id
        )
    ).first()
    if mine is not None:
        return _already_redeemed()
    return Conflict("This voucher has been used up.", code="voucher_used_up")


def _already_redeemed() -> Conflict:
    return Conflict("You have redeemed this voucher already.", code="voucher_already_redeemed")


def _take_use(code: str, user_id: uuid.UUID) -> Redeemed:
    now = utcnow()
    taken = db.session.execute(
        update(Voucher)
        .where(
            Voucher.code == code,
            Voucher.is_active.is_(True),
            or_(Voucher.expires_at.is_(None), Voucher.expires_at > now),
            Voucher.redemptions < Voucher.max_redemptions,
        )
        .values(redemptions=Voucher.redemptions + 1)
        .returning(Voucher.id, Voucher.coins)
    ).first()
    if taken is None:
        raise _why_refused(code, user_id)
    voucher_id, amount = taken
    entry = ledger.credit_voucher(user_id, amount, code=code)
    db.session.add(
        VoucherRedemption(voucher_id=voucher_id, user_id=user_id, transaction_id=entry.id)
    )
    db.session.flush()
    return Redeemed(voucher_id, code, entry, entry.balance_after)


def redeem(user_id: uuid.UUID, raw_code: object) -> Redeemed:
    """Credit the voucher ``raw_code`` to ``user_id`` once, in the caller's transaction.

    Raises ``ValidationError`` (no code), ``TooManyAttempts`` (429), ``NotFound``
    (``voucher_not_found``) or ``Conflict`` (``voucher_used_up``,
    ``voucher_already_redeemed``); a refusal leaves the database as it was.
    """
    if not isinstance(raw_code, str) or not raw_code.strip():
        raise ValidationError("Enter a voucher code.", code="invalid_code")
    user = db.session.get(User, user_id)
    if user is not None:
        email_verification.require_verified(user)  # 403 email_unverified: no top-up yet
    place = voucher_attempts.take_place(user_id)
    code = normalise_code(raw_code)
    if code is None:
        raise _not_found()
    try:
        # The savepoint takes back the use and the credit when the unique index refuses
        # a second redemption by the same user (a parallel one included).
        with db.session.begin_nested():
            redeemed = _take_use(code, user_id)
    except IntegrityError:
        raise _already_redeemed() from None
    except (NotFound, Conflict):
        raise
    except Exception:
        voucher_attempts.give_back(user_id, place)  # our failure, not the user's
        raise
    voucher_attempts.give_back(user_id, place)
    entry = redeemed.transaction
    notices.notify(
        user_id,
        "coins_credited",
        {"amount": entry.delta, "balance": entry.balance_after, "source": "voucher"},
        dedupe_key=f"coins_credited:{entry.id}",
    )
    return redeemed


def redemptions_of(voucher_id: uuid.UUID) -> list[VoucherRedemption]:
    """Who redeemed a voucher, newest first."""
    return list(
        db.session.execute(
            select(VoucherRedemption)
            .where(VoucherRedemption.voucher_id == voucher_id)
            .order_by(VoucherRedemption.id.desc())
        ).scalars()
    )
