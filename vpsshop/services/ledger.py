"""The coin ledger: the only code that changes ``User.coins``.

Every function here runs inside the caller's transaction and never commits: the caller
decides what else belongs in the same atomic change (a session row, an audit entry).
Each change of a balance writes exactly one ``CoinTransaction``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from vpsshop.errors import InsufficientCoins, NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.models import CoinTransaction, TransactionKind, User, VpsSession
from vpsshop.services import audit, notices
from vpsshop.services.text import required_text
from vpsshop.services.versions import COVERED

# The coin UPDATEs write a ledger row beside them, which moves the user's version.
COVERED_BY_LEDGER_ROW = {COVERED: True}

MAX_AMOUNT = 1_000_000_000
ADMIN_OPS = ("add", "sub", "set")


def check_amount(amount: object, *, allow_zero: bool = True) -> int:
    """Return ``amount`` as an int, or raise ``ValidationError`` with a readable reason."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError("The amount must be a whole number.", code="invalid_amount")
    low = 0 if allow_zero else 1
    if amount < low or amount > MAX_AMOUNT:
        raise ValidationError(
            f"The amount must be between {low} and {MAX_AMOUNT:,}.", code="invalid_amount"
        )
    return amount


def _check_reason(reason: object) -> str:
    return required_text(
        reason,
        what="reason",
        max_length=500,
        code="invalid_reason",
        missing="A reason is required.",
        missing_code="reason_required",
    )


def _record(
    user_id: uuid.UUID,
    delta: int,
    balance_after: int,
    kind: TransactionKind,
    reason: str,
    actor_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    payment_id: uuid.UUID | None = None,
) -> CoinTransaction:
    entry = CoinTransaction(
        user_id=user_id,
        delta=delta,
        balance_after=balance_after,
        kind=kind.value,
        reason=reason,
        actor_id=actor_id,
        session_id=session_id,
        payment_id=payment_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _credit(user_id: uuid.UUID, amount: int) -> int:
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(coins=User.coins + amount)
        .returning(User.coins)
        .execution_options(**COVERED_BY_LEDGER_ROW)
    )
    balance = db.session.execute(stmt).scalar_one_or_none()
    if balance is None:
        raise NotFound("No such user.", code="user_not_found")
    return balance


def _debit(user_id: uuid.UUID, amount: int) -> int:
    # One conditional UPDATE: two debits racing can never both pass the check.
    stmt = (
        update(User)
        .where(User.id == user_id, User.coins >= amount)
        .values(coins=User.coins - amount)
        .returning(User.coins)
        .execution_options(**COVERED_BY_LEDGER_ROW)
    )
    balance = db.session.execute(stmt).scalar_one_or_none()
    if balance is None:
        current = db.session.execute(select(User.coins).where(User.id == user_id)).scalar()
        if current is None:
            raise NotFound("No such user.", code="user_not_found")
        raise InsufficientCoins(f"Not enough coins: {amount} needed, {current} available.")
    return balance


def add(
    user_id: uuid.UUID, amount: int, *, reason: str, actor_id: uuid.UUID | None = None
) -> CoinTransaction:
    """Give a user coins (admin grant or CLI)."""
    amount = check_amount(amount)
    reason = _check_reason(reason)
    balance = _credit(user_id, amount)
    return _record(user_id, amount, balance, TransactionKind.ADMIN_ADD, reason, actor_id)


def sub(
    user_id: uuid.UUID, amount: int, *, reason: str, actor_id: uuid.UUID | None = None
) -> CoinTransaction:
    """Take coins away; refused when the balance would go below zero."""
    amount = check_amount(amount)
    reason = _check_reason(reason)
    balance = _debit(user_id, amount)
    return _record(user_id, -amount, balance, TransactionKind.ADMIN_SUB, reason, actor_id)


def set_balance(
    user_id: uuid.UUID, amount: int, *, reason: str, actor_id: uuid.UUID | None = None
) -> CoinTransaction:
    """Set a balance to ``amount``; the ledger row carries the difference."""
    amount = check_amount(amount)
    reason = _check_reason(reason)
    # The row lock makes the read and the write one step for concurrent changes.
    old = db.session.execute(
        select(User.coins).where(User.id == user_id).with_for_update()
    ).scalar_one_or_none()
    if old is None:
        raise NotFound("No such user.", code="user_not_found")
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(coins=amount)
        .execution_options(synchronize_session="fetch", **COVERED_BY_LEDGER_ROW)
    )
    return _record(user_id, amount - old, amount, TransactionKind.ADMIN_SET, reason, actor_id)


def adjust(
    user_id: uuid.UUID, op: str, amount: int, *, reason: str, actor_id: uuid.UUID | None
) -> CoinTransaction:
    """Apply an admin operation by name: ``add``, ``sub`` or ``set``."""
    operations = {"add": add, "sub": sub, "set": set_balance}
    if op not in operations:
        raise ValidationError("The operation must be add, sub or set.", code="invalid_op")
    entry = operations[op](user_id, amount, reason=reason, actor_id=actor_id)
    # The ledger row says what changed; the audit log says so beside every other admin act.
    audit.record(
        actor_id,
        f"coins.{op}",
        "user",
        user_id,
        amount=amount,
        delta=entry.delta,
        balance_after=entry.balance_after,
        reason=entry.reason,
        ledger_id=entry.id,
    )
    if entry.delta > 0:
        notices.notify(
            user_id,
            "coins_credited",
            {"amount": entry.delta, "balance": entry.balance_after, "source": "admin"},
            dedupe_key=f"coins_credited:{entry.id}",
        )
    return entry


def charge(user_id: uuid.UUID, amount: int, *, session_id: uuid.UUID) -> CoinTransaction:
    """Take a purchase's price; raises ``InsufficientCoins`` and writes nothing if short."""
    amount = check_amount(amount, allow_zero=False)
    balance = _debit(user_id, amount)
    return _record(
        user_id, -amount, balance, TransactionKind.PURCHASE, "purchase", session_id=session_id
    )


def credit_voucher(user_id: uuid.UUID, amount: int, *, code: str) -> CoinTransaction:
    """Credit a redeemed voucher's coins (services/vouchers.py holds the once-only rules)."""
    amount = check_amount(amount, allow_zero=False)
    balance = _credit(user_id, amount)
    return _record(user_id, amount, balance, TransactionKind.VOUCHER, f"voucher {code}")


def credit_signup(user_id: uuid.UUID, amount: int) -> CoinTransaction:
    """Credit the welcome coins of a self-service sign-up (``SIGNUP_COINS``)."""
    amount = check_amount(amount, allow_zero=False)
    balance = _credit(user_id, amount)
    return _record(user_id, amount, balance, TransactionKind.SIGNUP, "welcome coins")


def charge_extension(
    user_id: uuid.UUID, amount: int, *, session_id: uuid.UUID, minutes: int
) -> CoinTransaction:
    """Take an extension's price; raises ``InsufficientCoins`` and writes nothing if short."""
    amount = check_amount(amount, allow_zero=False)
    balance = _debit(user_id, amount)
    return _record(
        user_id,
        -amount,
        balance,
        TransactionKind.EXTEND,
        f"extend by {minutes} minutes",
        session_id=session_id,
    )


def refund(session: VpsSession, reason: str) -> CoinTransaction | None:
    """Give back what ``session`` cost, once: ``None`` when it was refunded already."""
    if session.ready_at is not None:
        raise ValueError("a session that became ready is never refunded")
    try:
        # A unique index allows one refund row per session; the savepoint undoes the
        # credit as well when a concurrent or repeated refund hits it.
        with db.session.begin_nested():
            balance = _credit(session.user_id, session.price_coins)
            return _record(
                session.user_id,
                session.price_coins,
                balance,
                TransactionKind.REFUND,
                reason[:500],
                session_id=session.id,
            )
    except IntegrityError:
        return None


def credit_topup(
    user_id: uuid.UUID, amount: int, *, payment_id: uuid.UUID, reason: str
) -> CoinTransaction | None:
    """Credit a paid top-up, once per payment: ``None`` when it was credited already."""
    amount = check_amount(amount, allow_zero=False)
    try:
        # The unique index on (payment_id) of topup rows is the guard, not a prior read:
        # the savepoint undoes the credit too when a concurrent delivery got there first.
        with db.session.begin_nested():
            balance = _credit(user_id, amount)
            return _record(
                user_id, amount, balance, TransactionKind.TOPUP, reason[:500], payment_id=payment_id
            )
    except IntegrityError:
        return None


def take_back_topup(
    user_id: uuid.UUID, wanted: int, *, payment_id: uuid.UUID, reason: str
) -> tuple[int, CoinTransaction | None]:
    """Take up to ``wanted`` coins of a top-up back, never below a zero balance.

    Returns what was taken and its ledger row (None when nothing could be taken); the
    caller records the rest as unrecovered. Runs under the user's row lock.
    """
    wanted = check_amount(wanted)
    current = db.session.execute(
        select(User.coins).where(User.id == user_id).with_for_update()
    ).scalar_one_or_none()
    if current is None:
        raise NotFound("No such user.", code="user_not_found")
    taken = min(current, wanted)
    if taken == 0:
        return 0, None
    balance = _debit(user_id, taken)
    entry = _record(
        user_id,
        -taken,
        balance,
        TransactionKind.TOPUP_REVERSAL,
        reason[:500],
        payment_id=payment_id,
    )
    return taken, entry


def is_refunded(session_id: uuid.UUID) -> bool:
    return (
        db.session.execute(
            select(CoinTransaction.id).where(
                CoinTransaction.session_id == session_id,
                CoinTransaction.kind == TransactionKind.REFUND.value,
            )
        ).first()
        is not None
    )


def ledger_sum(user_id: uuid.UUID) -> int:
    """Sum of every delta of a user: always equal to ``User.coins``."""
    return db.session.execute(
        select(func.coalesce(func.sum(CoinTransaction.delta), 0)).where(
            CoinTransaction.user_id == user_id
        )
    ).scalar_one()
