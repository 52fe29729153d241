"""The waitlist of a sold-out product: first come first served, a waiter who cannot pay is
skipped, no slot goes twice, nobody is charged before a slot is theirs (real PostgreSQL,
Redis, RQ jobs and a simulated node over HTTP)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers import (
    QUICK_JOBS,
    assert_ledger_invariant,
    coins,
    fresh,
    sql_statements,
    status_is,
)
from tests.shop.factories import add_session
from vpsshop.errors import NoCapacity, NotFound
from vpsshop.extensions import db
from vpsshop.models import (
    CoinTransaction,
    MailMessage,
    SessionStatus,
    User,
    VpsSession,
    WaitlistEntry,
    WaitlistStatus,
)
from vpsshop.models.types import utcnow
from vpsshop.services import sessions as session_service
from vpsshop.services import sweeper, waitlist
from vpsshop.services.purchase import purchase


@pytest.fixture
def app_config() -> dict:
    return {
        **QUICK_JOBS,
        "SWEEP_INTERVAL_SECONDS": 3600,
        # Twenty threads at once plus the test's own connection.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 32, "max_overflow": 0},
    }


@pytest.fixture
def sold_out(make_worker, make_product, make_user, sim_node):
    """A product whose one node is full of ``slots`` running sessions of someone else."""

    def make(slots: int = 1):
        worker = make_worker(sim_node.url, max_sessions=slots)
        product = make_product([worker], price=5, duration=30)
        owner = make_user()
        running = [
            add_session(
                owner,
                product,
                SessionStatus.READY,
                worker_id=worker.id,
                expires_at=utcnow() + timedelta(minutes=10 + i),
            )
            for i in range(slots)
        ]
        return product, running

    return make


def entry_of(entry_id) -> WaitlistEntry:
    db.session.expire_all()
    return db.session.get(WaitlistEntry, entry_id)


def purchases_of(user_id) -> int:
    return db.session.execute(
        select(func.count()).where(
            CoinTransaction.user_id == user_id, CoinTransaction.kind == "purchase"
        )
    ).scalar_one()


def free_slot(session: VpsSession) -> None:
    """The running session ends (as a stop confirmed by the node does)."""
    row = fresh(session.id)
    row.status = SessionStatus.DELETED
    row.ended_at = row.vm_stopped_at = utcnow()
    db.session.commit()


def test_three_waiters_one_slot_first_served_poor_skipped_positions_move(
    sold_out, make_user, run_jobs
):
    product, (running,) = sold_out()
    first, poor, third = make_user(coins=5), make_user(coins=4), make_user(coins=9)
    entries = [waitlist.join(user, product.id)[0].id for user in (first, poor, third)]
    assert [waitlist.position(entry_of(e)) for e in entries] == [1, 2, 3]
    assert coins(first.id) == 5 and purchases_of(first.id) == 0  # nothing charged yet

    free_slot(running)  # the commit enqueues the fulfilment (services/slot_events.py)
    assert run_jobs(until=lambda: entry_of(entries[0]).status == "fulfilled")
    served = entry_of(entries[0])
    assert coins(first.id) == 0 and purchases_of(first.id) == 1
    assert run_jobs(until=status_is(served.session_id, "ready"))
    assert [waitlist.position(entry_of(e)) for e in entries[1:]] == [1, 2]

    session_service.request_delete(first, served.session_id)
    assert run_jobs(until=lambda: entry_of(entries[2]).status == "fulfilled")
    skipped = entry_of(entries[1])
    assert skipped.status == "skipped" and "Not enough coins" in skipped.reason
    assert coins(poor.id) == 4 and purchases_of(poor.id) == 0
    assert coins(third.id) == 4 and purchases_of(third.id) == 1
    # Each waiter is told what became of their place, once.
    mails = db.session.execute(
        select(MailMessage.user_id, MailMessage.kind).where(MailMessage.kind.like("waitlist%"))
    ).all()
    assert sorted(mails) == sorted(
        [
            (first.id, "waitlist_fulfilled"),
            (poor.id, "waitlist_skipped"),
            (third.id, "waitlist_fulfilled"),
        ]
    )
    assert_ledger_invariant()


@pytest.mark.postgresql_only
def test_twenty_waiters_racing_two_freed_slots_make_exactly_two_purchases(app, sold_out, make_user):
    product, running = sold_out(slots=2)
    users = [make_user(coins=5) for _ in range(20)]
    user_ids, product_id = [u.id for u in users], product.id
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def in_thread(work) -> threading.Thread:
        def run() -> None:
            with app.app_context():
                try:
                    work()
                except BaseException as error:  # noqa: BLE001 - reported below
                    errors.append(error)
                finally:
                    db.session.remove()

        return threading.Thread(target=run)

    def joiner(user_id):
        def work() -> None:
            me = db.session.get(User, user_id)
            barrier.wait()
            waitlist.join(me, product_id)

        return work

    threads = [in_thread(joiner(user_id)) for user_id in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    line = (
        db.session.execute(
            select(WaitlistEntry).order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        )
        .scalars()
        .all()
    )
    assert len(line) == 20

    for session in running:
        free_slot(session)
    # Twenty fulfilments at once (jobs on as many workers would do the same).
    racers = [in_thread(lambda: waitlist.fulfil(product_id)) for _ in range(20)]
    for thread in racers:
        thread.start()
    for thread in racers:
        thread.join(60)
    assert errors == []
    db.session.expire_all()
    statuses = [entry_of(entry.id).status for entry in line]
    assert statuses == ["fulfilled", "fulfilled"] + ["waiting"] * 18  # FIFO
    bought = db.session.execute(
        select(func.count()).where(
            VpsSession.product_id == product_id, VpsSession.user_id.in_(user_ids)
        )
    ).scalar_one()
    assert bought == 2
    assert sum(purchases_of(user_id) for user_id in user_ids) == 2
    assert sum(coins(user_id) for user_id in user_ids) == 18 * 5
    assert_ledger_invariant()


def test_leaving_the_line(sold_out, make_user, run_jobs):
    product, (running,) = sold_out()
    leaver, stayer = make_user(coins=5), make_user(coins=5)
    left = waitlist.join(leaver, product.id)[0]
    stays = waitlist.join(stayer, product.id)[0]
    assert waitlist.position(entry_of(stays.id)) == 2
    waitlist.leave(leaver, left.id)
    assert entry_of(left.id).status == "cancelled"
    assert waitlist.position(entry_of(stays.id)) == 1
    waitlist.leave(leaver, left.id)  # again: nothing changes
    with pytest.raises(NotFound):
        waitlist.leave(stayer, left.id)  # someone else's
    free_slot(running)
    assert run_jobs(until=lambda: entry_of(stays.id).status == "fulfilled")
    assert entry_of(left.id).status == "cancelled" and purchases_of(leaver.id) == 0
    # Joining again after leaving gets a new place at the end of the line.
    again, created = waitlist.join(leaver, product.id)
    assert created and again.id != left.id
    assert_ledger_invariant()


def test_entries_expire_and_are_never_served(sold_out, make_user, run_jobs):
    product, (running,) = sold_out()
    late, fresh_waiter = make_user(coins=5), make_user(coins=5)
    old = waitlist.join(late, product.id)[0]
    newer = waitlist.join(fresh_waiter, product.id)[0]
    row = entry_of(old.id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert waitlist.position(entry_of(newer.id)) == 1
    sweeper.sweep()
    assert entry_of(old.id).status == "expired" and "hours" in entry_of(old.id).reason
    free_slot(running)
    assert run_jobs(until=lambda: entry_of(newer.id).status == "fulfilled")
    assert purchases_of(late.id) == 0 and coins(late.id) == 5
    assert_ledger_invariant()


def test_an_entry_lasts_waitlist_hours(sold_out, make_user, app):
    product, _ = sold_out()
    entry = waitlist.join(make_user(), product.id)[0]
    length = entry_of(entry.id).expires_at - entry_of(entry.id).created_at
    assert length == timedelta(hours=app.config["WAITLIST_HOURS"]) == timedelta(hours=24)


def test_joining_twice_keeps_one_place(sold_out, make_user):
    product, _ = sold_out()
    user = make_user()
    first, created = waitlist.join(user, product.id)
    second, created_again = waitlist.join(user, product.id)
    assert created and not created_again and first.id == second.id
    assert db.session.execute(select(func.count()).select_from(WaitlistEntry)).scalar() == 1


def test_a_free_slot_means_buy_instead(make_worker, make_product, make_user, sim_node):
    product = make_product([make_worker(sim_node.url)], price=5)
    with pytest.raises(waitlist.SlotAvailable) as refused:
        waitlist.join(make_user(), product.id)
    assert refused.value.code == "available" and refused.value.status == 409


def test_a_buyer_cannot_jump_the_line(sold_out, make_user):
    product, (running,) = sold_out()
    waiter, jumper = make_user(coins=5), make_user(coins=5)
    waitlist.join(waiter, product.id)
    row = fresh(running.id)
    row.status = SessionStatus.DELETED  # freed, the fulfilment not run yet
    db.session.commit()
    with pytest.raises(NoCapacity) as refused:
        purchase(jumper, product.id)
    assert "1 person is waiting" in refused.value.message and coins(jumper.id) == 5
    # The first in line may buy it themselves; their place becomes that purchase.
    session = purchase(waiter, product.id)
    entry = db.session.execute(select(WaitlistEntry)).scalar_one()
    assert entry.status == WaitlistStatus.FULFILLED and entry.session_id == session.id
    assert_ledger_invariant()


def test_a_node_enabled_again_serves_the_line(sold_out, make_user, run_jobs):
    from vpsshop.services import workers as worker_service

    product, (running,) = sold_out()
    waiter = make_user(coins=5)
    entry = waitlist.join(waiter, product.id)[0]
    worker = product.workers[0]
    worker_service.update_worker(worker, {"max_sessions": 2})
    db.session.commit()
    assert run_jobs(until=lambda: entry_of(entry.id).status == "fulfilled")
    assert purchases_of(waiter.id) == 1
    assert_ledger_invariant()


def test_slots_beyond_the_line_are_anyones(sold_out, make_user):
    product, running = sold_out(slots=2)
    waiter, buyer = make_user(coins=5), make_user(coins=5)
    waitlist.join(waiter, product.id)
    for session in running:
        row = fresh(session.id)
        row.status = SessionStatus.DELETED  # both freed, the fulfilment not run yet
    db.session.commit()
    session = purchase(buyer, product.id)  # one slot for the waiter, one for anyone
    assert session.user_id == buyer.id and coins(buyer.id) == 0
    assert waitlist.fulfil(product.id).fulfilled
    assert coins(waiter.id) == 0
    assert_ledger_invariant()


def test_a_waiter_second_in_line_leaves_the_one_freed_slot_to_the_first(sold_out, make_user):
    product, (running,) = sold_out()
    first, second = make_user(coins=5), make_user(coins=5)
    waitlist.join(first, product.id)
    waitlist.join(second, product.id)
    free_slot(running)  # the fulfilment not run yet
    with pytest.raises(NoCapacity) as refused:
        purchase(second, product.id)
    assert "1 person is waiting" in refused.value.message and coins(second.id) == 5
    assert purchase(first, product.id).user_id == first.id
    assert_ledger_invariant()


def test_a_buyer_not_in_line_costs_the_purchase_one_query_for_the_line(sold_out, make_user):
    product, _ = sold_out()
    waitlist.join(make_user(coins=5), product.id)
    buyer_id = make_user(coins=5).id
    db.session.refresh(product)  # loaded after the commits: no reload counted below
    with sql_statements() as statements, pytest.raises(NoCapacity):  # one waiting, no slot
        waitlist.refuse_if_queue_ahead(product, buyer_id)
    # The line's one count, then the free slots the one waiting is compared with.
    assert len(statements) == 2
    assert "waitlist_entries" in statements[0] and "waitlist_entries" not in statements[1]
