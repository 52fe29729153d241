"""Extending a running session: charged once through the ledger, expiry moved, and never
both extended and stopped (real PostgreSQL, Redis, RQ and a simulated node over HTTP)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from rq import Worker
from sqlalchemy import func, select

from tests.helpers import QUICK_JOBS, assert_ledger_invariant, coins, fresh, status_is
from tests.reliability.conftest import wait_for
from vpsshop.errors import InsufficientCoins, NotFound
from vpsshop.extensions import db
from vpsshop.models import ActivityEvent, CoinTransaction, SessionExtension, SessionStatus, User
from vpsshop.models.types import utcnow
from vpsshop.queue import get_queue
from vpsshop.services import extension, provisioning
from vpsshop.services.extension import NotExtendable
from vpsshop.services.purchase import IdempotencyMismatch, purchase


@pytest.fixture
def app_config() -> dict:
    # Only the session's own expiry job stops it here, never the sweeper.
    return {**QUICK_JOBS, "SWEEP_INTERVAL_SECONDS": 3600}


@pytest.fixture
def extendable(make_worker, make_product, sim_node):
    def make(**fields):
        product = make_product([make_worker(sim_node.url)], price=5, duration=1)
        values = {"extend_minutes": 1, "extend_price_coins": 3, **fields}
        for name, value in values.items():
            setattr(product, name, value)
        db.session.commit()
        return product

    return make


@pytest.fixture
def ready_session(run_jobs, make_user, extendable):
    """A ready session of an extendable product, bought and provisioned for real."""

    def make(coins_left: int = 10, user=None, **product_fields):
        user = user or make_user(coins=5 + coins_left)
        product = extendable(**product_fields)
        sid = purchase(user, product.id).id
        assert run_jobs(until=status_is(sid, "ready"))
        return user, fresh(sid)

    return make


def extend_rows(session_id) -> int:
    db.session.expire_all()
    return db.session.execute(
        select(func.count()).where(
            CoinTransaction.session_id == session_id, CoinTransaction.kind == "extend"
        )
    ).scalar_one()


def test_an_extension_charges_once_and_moves_the_end(ready_session):
    user, session = ready_session()
    before = session.expires_at
    extended = extension.extend(user, session.id)
    assert extended.expires_at == before + timedelta(minutes=1)
    assert coins(user.id) == 7 and extend_rows(session.id) == 1
    row = db.session.execute(
        select(CoinTransaction).where(CoinTransaction.kind == "extend")
    ).scalar_one()
    assert row.delta == -3 and row.session_id == session.id and row.balance_after == 7
    record = db.session.execute(select(SessionExtension)).scalar_one()
    assert record.transaction_id == row.id and record.expires_after == extended.expires_at
    # The buyer's activity names the extension (GET /me/activity, /account/activity).
    events = db.session.execute(
        select(ActivityEvent.detail).where(
            ActivityEvent.user_id == user.id, ActivityEvent.kind == "extension"
        )
    ).all()
    assert [detail for (detail,) in events] == ["+1 minutes"]
    assert_ledger_invariant()


def test_the_same_key_again_charges_nothing(ready_session):
    user, session = ready_session(coins_left=15)
    first = extension.extend(user, session.id, "key-1").expires_at
    again = extension.extend(user, session.id, "key-1").expires_at
    assert first == again and extend_rows(session.id) == 1 and coins(user.id) == 12
    _, other = ready_session(user=user)
    with pytest.raises(IdempotencyMismatch):
        extension.extend(user, other.id, "key-1")
    assert extend_rows(other.id) == 0 and coins(user.id) == 7
    assert_ledger_invariant()


def test_parallel_tries_with_one_key_charge_once(app, ready_session):
    user, session = ready_session(coins_left=30)
    before = session.expires_at
    user_id, session_id = user.id, session.id
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def attempt() -> None:
        with app.app_context():
            try:
                me = db.session.get(User, user_id)
                barrier.wait()
                extension.extend(me, session_id, "same-key")
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert extend_rows(session.id) == 1 and coins(user.id) == 27
    assert fresh(session.id).expires_at == before + timedelta(minutes=1)
    assert_ledger_invariant()


def test_past_the_cap_is_refused_and_free(ready_session):
    user, session = ready_session(max_total_minutes=2)
    extension.extend(user, session.id)
    with pytest.raises(NotExtendable) as refused:
        extension.extend(user, session.id)
    assert refused.value.code == "not_extendable" and refused.value.status == 409
    assert "at most 2 minutes" in refused.value.message
    assert extend_rows(session.id) == 1 and coins(user.id) == 7
    assert_ledger_invariant()


def test_without_coins_is_402_and_changes_nothing(ready_session):
    user, session = ready_session(coins_left=2)
    before = session.expires_at
    with pytest.raises(InsufficientCoins):
        extension.extend(user, session.id, "poor")
    after = fresh(session.id)
    assert after.expires_at == before and extend_rows(session.id) == 0
    assert coins(user.id) == 2
    assert db.session.execute(select(func.count()).select_from(SessionExtension)).scalar() == 0
    assert_ledger_invariant()


def test_another_users_session_is_not_found(ready_session, make_user):
    _, session = ready_session()
    stranger = make_user(coins=50)
    with pytest.raises(NotFound):
        extension.extend(stranger, session.id)
    assert extend_rows(session.id) == 0 and coins(stranger.id) == 50
    assert_ledger_invariant()


@pytest.mark.parametrize(
    "change",
    [
        {"status": SessionStatus.EXPIRED},
        {"status": SessionStatus.DELETED},
        {"status": SessionStatus.STOPPING},
        {"expires_at": None},
    ],
    ids=["expired", "deleted", "stopping", "no-duration"],
)
def test_final_stopping_or_endless_sessions_are_not_extendable(ready_session, change):
    user, session = ready_session()
    row = fresh(session.id)
    for name, value in change.items():
        setattr(row, name, value)
    db.session.commit()
    with pytest.raises(NotExtendable):
        extension.extend(user, session.id)
    assert extend_rows(session.id) == 0 and coins(user.id) == 10
    assert_ledger_invariant()


def test_a_product_without_extensions_refuses(ready_session):
    user, session = ready_session(extend_minutes=None, extend_price_coins=None)
    with pytest.raises(NotExtendable):
        extension.extend(user, session.id)
    assert coins(user.id) == 10


def test_time_already_over_is_refused(ready_session):
    user, session = ready_session()
    row = fresh(session.id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(NotExtendable) as refused:
        extension.extend(user, session.id)
    assert "over" in refused.value.message and coins(user.id) == 10


def test_extend_then_expiry_at_the_new_time(start_rq_worker, ready_session, sim_node):
    """The earlier scheduled stop does nothing; the server stops at the extended end."""
    user, session = ready_session()
    start_rq_worker()
    assert wait_for(lambda: Worker.count(queue=get_queue()) > 0, timeout=20)
    row = fresh(session.id)
    row.expires_at = utcnow().replace(microsecond=0) + timedelta(seconds=3)
    old_end = row.expires_at
    db.session.commit()
    provisioning.schedule_expiry(session.id, old_end)
    new_end = extension.extend(user, session.id).expires_at
    assert new_end == old_end + timedelta(minutes=1)
    # Past the old end (and a scheduler tick), it still runs.
    while utcnow() < old_end + timedelta(seconds=3):
        time.sleep(0.2)
    assert fresh(session.id).status == "ready" and sim_node.active_vms != []
    assert wait_for(status_is(session.id, "expired"), timeout=90)
    stopped = fresh(session.id)
    late = (stopped.ended_at - new_end).total_seconds()
    assert 0 <= late < 3, late
    assert sim_node.active_vms == [] and extend_rows(session.id) == 1
    assert_ledger_invariant()


@pytest.mark.parametrize("round_", range(6))
def test_extend_racing_the_expiry_never_does_both(app, ready_session, round_):
    """Threads: the expiry job's step and an extension at the end's very moment."""
    user, session = ready_session()
    user_id, session_id = user.id, session.id
    row = fresh(session.id)
    end = utcnow() + timedelta(seconds=0.6)
    row.expires_at = end
    db.session.commit()
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)
    # Alternate who arrives a hair first; the lock decides the rest.
    offsets = {"extend": -0.004 + 0.0015 * round_, "expire": 0.001}

    def at_the_end(kind: str) -> None:
        with app.app_context():
            try:
                me = db.session.get(User, user_id)
                barrier.wait()
                delay = (end - utcnow()).total_seconds() + offsets[kind]
                if delay > 0:
                    time.sleep(delay)
                if kind == "extend":
                    results[kind] = extension.extend(me, session_id).expires_at
                else:
                    # The job retries until the time has come, as the scheduled job would.
                    for _ in range(50):
                        provisioning.expire(session_id)
                        now = fresh(session_id)
                        if now.status != "ready" or now.expires_at > end:
                            break
                        time.sleep(0.01)
                    results[kind] = fresh(session_id).status
            except NotExtendable as error:
                results[kind] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=at_the_end, args=(k,)) for k in ("extend", "expire")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    after = fresh(session.id)
    charged = extend_rows(session.id)
    if charged:
        # The extension won: the server runs to the new end, nothing stopped it.
        assert after.status == "ready" and after.expires_at == end + timedelta(minutes=1)
        assert coins(user.id) == 7
    else:
        # The expiry won: stopping, and the refused extension charged nothing.
        assert after.status == "stopping" and isinstance(results["extend"], NotExtendable)
        assert coins(user.id) == 10
    assert_ledger_invariant()


def test_an_unknown_session_is_not_found(make_user):
    with pytest.raises(NotFound):
        extension.extend(make_user(coins=5), uuid.uuid4())
