"""The coin ledger: every operation, every refusal, the invariant, and racing debits."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tests.helpers import assert_ledger_invariant
from vpsshop.errors import InsufficientCoins, NotFound, ValidationError
from vpsshop.models import CoinTransaction, User, VpsProduct, VpsSession
from vpsshop.services import ledger


@pytest.fixture(autouse=True)
def _invariant_after_each_test(app):
    yield
    assert_ledger_invariant()


def _transactions(db, user):
    return (
        db.session.execute(
            select(CoinTransaction)
            .where(CoinTransaction.user_id == user.id)
            .order_by(CoinTransaction.id)
        )
        .scalars()
        .all()
    )


def test_add_credits_and_writes_one_row(db, make_user):
    admin = make_user(admin=True)
    user = make_user()
    entry = ledger.add(user.id, 25, reason="welcome", actor_id=admin.id)
    db.session.commit()
    db.session.refresh(user)
    assert user.coins == 25
    assert (entry.delta, entry.balance_after, entry.kind) == (25, 25, "admin_add")
    assert (entry.reason, entry.actor_id) == ("welcome", admin.id)
    assert len(_transactions(db, user)) == 1


def test_sub_debits(db, make_user):
    user = make_user(coins=10)
    entry = ledger.sub(user.id, 4, reason="correction")
    db.session.commit()
    db.session.refresh(user)
    assert user.coins == 6
    assert (entry.delta, entry.balance_after, entry.kind) == (-4, 6, "admin_sub")


def test_sub_below_zero_is_refused_and_changes_nothing(db, make_user):
    user = make_user(coins=3)
    with pytest.raises(InsufficientCoins) as info:
        ledger.sub(user.id, 4, reason="too much")
    db.session.rollback()
    db.session.refresh(user)
    assert info.value.code == "insufficient_coins"
    assert "3 available" in info.value.message
    assert user.coins == 3
    assert len(_transactions(db, user)) == 1


def test_set_records_the_difference(db, make_user):
    user = make_user(coins=10)
    up = ledger.set_balance(user.id, 42, reason="reset")
    down = ledger.set_balance(user.id, 5, reason="reset again")
    db.session.commit()
    db.session.refresh(user)
    assert user.coins == 5
    assert (up.delta, up.balance_after, up.kind) == (32, 42, "admin_set")
    assert (down.delta, down.balance_after) == (-37, 5)


@pytest.mark.parametrize("amount", [-1, 1_000_000_001, 2.5, "10", None, True])
@pytest.mark.parametrize("op", ["add", "sub", "set"])
def test_bad_amounts_are_refused(db, make_user, op, amount):
    user = make_user(coins=10)
    with pytest.raises(ValidationError) as info:
        ledger.adjust(user.id, op, amount, reason="bad", actor_id=None)
    db.session.rollback()
    assert info.value.code == "invalid_amount"
    db.session.refresh(user)
    assert user.coins == 10
    assert len(_transactions(db, user)) == 1


def test_amount_bounds_are_inclusive(db, make_user):
    user = make_user()
    ledger.add(user.id, 1_000_000_000, reason="max")
    ledger.add(user.id, 0, reason="zero")
    db.session.commit()
    db.session.refresh(user)
    assert user.coins == 1_000_000_000


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 501])
def test_reason_is_required(db, make_user, reason):
    user = make_user()
    with pytest.raises(ValidationError):
        ledger.add(user.id, 1, reason=reason)
    db.session.rollback()
    assert len(_transactions(db, user)) == 0


def test_unknown_op_and_user(db, make_user):
    user = make_user()
    with pytest.raises(ValidationError) as info:
        ledger.adjust(user.id, "mul", 2, reason="x", actor_id=None)
    assert info.value.code == "invalid_op"
    import uuid

    with pytest.raises(NotFound):
        ledger.add(uuid.uuid4(), 1, reason="ghost")
    db.session.rollback()


def _session_for(db, user, price=5):
    product = VpsProduct(name="Test box", price_coins=price, provision_action=3)
    db.session.add(product)
    db.session.flush()
    session = VpsSession(user_id=user.id, product_id=product.id, price_coins=price)
    db.session.add(session)
    db.session.flush()
    return session


def test_charge_and_refund_exactly_once(db, make_user):
    user = make_user(coins=12)
    session = _session_for(db, user)
    charge = ledger.charge(user.id, 5, session_id=session.id)
    db.session.commit()
    assert (charge.delta, charge.balance_after, charge.kind) == (-5, 7, "purchase")

    first = ledger.refund(session, "node failed")
    db.session.commit()
    second = ledger.refund(session, "node failed again")
    db.session.commit()
    db.session.refresh(user)
    assert first is not None and first.delta == 5 and first.kind == "refund"
    assert second is None
    assert user.coins == 12
    assert ledger.is_refunded(session.id)


def test_charge_without_enough_coins_writes_nothing(db, make_user):
    user = make_user(coins=4)
    session = _session_for(db, user)
    with pytest.raises(InsufficientCoins):
        ledger.charge(user.id, 5, session_id=session.id)
    db.session.rollback()
    db.session.refresh(user)
    assert user.coins == 4
    assert len(_transactions(db, user)) == 1


def test_ready_session_is_never_refunded(db, make_user):
    from vpsshop.models.types import utcnow

    user = make_user(coins=5)
    session = _session_for(db, user)
    ledger.charge(user.id, 5, session_id=session.id)
    session.ready_at = utcnow()
    with pytest.raises(ValueError):
        ledger.refund(session, "no")
    db.session.commit()


def test_refund_races_give_one_refund(app, db, make_user):
    user = make_user(coins=5)
    session = _session_for(db, user)
    ledger.charge(user.id, 5, session_id=session.id)
    db.session.commit()
    session_id = session.id
    results: list[object] = []
    barrier = threading.Barrier(8)

    def refund_once():
        with app.app_context():
            row = db.session.get(VpsSession, session_id)
            barrier.wait()
            results.append(ledger.refund(row, "race"))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=refund_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(r is not None for r in results) == 1
    assert len(results) == 8
    db.session.refresh(user)
    assert user.coins == 5


def test_twenty_concurrent_debits_of_a_balance_of_five(app, db, make_user):
    user = make_user(coins=5)
    user_id = user.id
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def debit():
        with app.app_context():
            barrier.wait()
            try:
                ledger.sub(user_id, 1, reason="race")
                db.session.commit()
                result = "ok"
            except InsufficientCoins:
                db.session.rollback()
                result = "refused"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=debit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count("ok") == 5
    assert outcomes.count("refused") == 15
    db.session.expire_all()
    assert db.session.get(User, user_id).coins == 0
    count = db.session.execute(
        select(func.count()).select_from(CoinTransaction).where(CoinTransaction.user_id == user_id)
    ).scalar()
    assert count == 6  # the grant and five debits
