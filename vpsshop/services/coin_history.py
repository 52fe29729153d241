"""A buyer's coin history, newest first, one page at a time (keyset by ledger id), and
what each row was for in words."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.models import CoinTransaction, TransactionKind, VpsProduct, VpsSession

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class HistoryRow:
    """A ledger row and the name of the product its session was (None without one)."""

    entry: CoinTransaction
    product_name: str | None

    @property
    def description(self) -> str:
        return describe(self.entry, self.product_name)


def _whole(raw: str | None, *, default: int | None, low: int, high: int, code: str, what: str):
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ValidationError(f"{what} must be a whole number from {low} to {high}.", code=code)
    return int(text)


def page_args(raw_limit: str | None, raw_before: str | None) -> tuple[int, int | None]:
    """``?limit=`` (1-100, 50 by default) and ``?before=`` (a ledger id) read, or a 400."""
    limit = _whole(
        raw_limit, default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT, code="invalid_limit", what="limit"
    )
    before = _whole(
        raw_before, default=None, low=1, high=_MAX_ID, code="invalid_before", what="before"
    )
    return limit, before


def history(user_id: uuid.UUID, *, limit: int, before: int | None = None) -> list[HistoryRow]:
    """The user's ledger rows with ids below ``before``, newest first, at most ``limit``."""
    query = (
        select(CoinTransaction, VpsProduct.name)
        .outerjoin(VpsSession, VpsSession.id == CoinTransaction.session_id)
        .outerjoin(VpsProduct, VpsProduct.id == VpsSession.product_id)
        .where(CoinTransaction.user_id == user_id)
        .order_by(CoinTransaction.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(CoinTransaction.id < before)
    return [HistoryRow(entry, name) for entry, name in db.session.execute(query).all()]


def _server(product_name: str | None) -> str:
    return f"a {product_name} server" if product_name else "a server"


# What a row was for, per kind; kinds added later (top-ups, extensions) fall back to the
# reason. The reason of an admin change is the admin's own words, shown as written.
_DESCRIPTIONS = {
    TransactionKind.PURCHASE.value: lambda entry, name: f"Bought {_server(name)}",
    TransactionKind.REFUND.value: lambda entry, name: f"Refund for {_server(name)}",
    TransactionKind.VOUCHER.value: lambda entry, name: (
        "Voucher " + entry.reason.removeprefix("voucher ").strip()
    ),
    TransactionKind.SIGNUP.value: lambda entry, name: "Welcome coins",
    TransactionKind.ADMIN_ADD.value: lambda entry, name: f"Added by the shop: {entry.reason}",
    TransactionKind.ADMIN_SUB.value: lambda entry, name: f"Taken by the shop: {entry.reason}",
    TransactionKind.ADMIN_SET.value: lambda entry, name: f"Balance set by the shop: {entry.reason}",
}


def describe(entry: CoinTransaction, product_name: str | None = None) -> str:
    """What a ledger row was for, in a buyer's words ("Bought a Windows Desktop server")."""
    words = _DESCRIPTIONS.get(entry.kind)
    if words is None:
        return entry.reason or entry.kind
    return words(entry, product_name)
