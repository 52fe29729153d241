"""Random lifecycles (Hypothesis state machine): the money, capacity and voucher invariants
hold, purchases and voucher redemptions mixed."""

from __future__ import annotations

from datetime import timedelta

import redis
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

import jobs.provisioning as provisioning_jobs
from tests.conftest import TEST_REDIS_URL, _truncate_all
from tests.helpers import assert_ledger_invariant
from vpsshop.errors import ServiceError
from vpsshop.extensions import db as _db
from vpsshop.models import (
    ACTIVE_STATUSES,
    Payment,
    User,
    Voucher,
    VpsProduct,
    VpsSession,
    Worker,
)
from vpsshop.models.types import utcnow
from vpsshop.services import accounts, ledger, payments, stripe_webhooks, sweeper, vouchers
from vpsshop.services.purchase import purchase
from vpsshop.services.sessions import request_delete

# What a node may be told to do between steps (endpoint, simulator mode).
NODE_MODES = [
    None,
    ("create", "500"),
    ("create", "busy"),
    ("log", "failure_line"),
    ("stop", "500"),
]
JOB_KINDS = ["provision", "watch", "stop", "expire"]
PASSWORD_HASH = accounts.hash_password("state machine password")


def _check_invariants() -> None:
    assert_ledger_invariant()
    overloaded = _db.session.execute(
        select(Worker.name, func.count(VpsSession.id), Worker.max_sessions)
        .join(VpsSession, VpsSession.worker_id == Worker.id)
        .where(VpsSession.status.in_([s.value for s in ACTIVE_STATUSES]))
        .group_by(Worker.id)
        .having(func.count(VpsSession.id) > Worker.max_sessions)
    ).all()
    assert not overloaded, f"workers over max_sessions: {overloaded}"
    twice = _db.session.execute(
        text(
            "SELECT session_id FROM coin_transactions WHERE kind = 'refund' "
            "GROUP BY session_id HAVING count(*) > 1"
        )
    ).all()
    assert not twice, f"sessions refunded twice: {twice}"
    ready_and_refunded = _db.session.execute(
        text(
            "SELECT s.id FROM vps_sessions s JOIN coin_transactions t "
            "ON t.session_id = s.id AND t.kind = 'refund' WHERE s.ready_at IS NOT NULL"
        )
    ).all()
    assert not ready_and_refunded, f"ready and refunded: {ready_and_refunded}"
    credited_twice = _db.session.execute(
        text(
            "SELECT payment_id FROM coin_transactions WHERE kind = 'topup' "
            "GROUP BY payment_id HAVING count(*) > 1"
        )
    ).all()
    assert not credited_twice, f"payments credited twice: {credited_twice}"
    # What a payment took back never exceeds what it credited; a user's hold is exactly
    # the unrecovered coins of their payments.
    over = _db.session.execute(
        text(
            "SELECT id FROM payments WHERE coins_reversed + coins_unrecovered "
            "+ coins_written_off > coins"
        )
    ).all()
    assert not over, f"payments reversed beyond their coins: {over}"
    holds = _db.session.execute(
        text(
            "SELECT u.id FROM users u LEFT JOIN payments p ON p.user_id = u.id "
            "GROUP BY u.id, u.coins_unrecovered "
            "HAVING u.coins_unrecovered != COALESCE(SUM(p.coins_unrecovered), 0)"
        )
    ).all()
    assert not holds, f"holds that differ from the payments: {holds}"
    # Each voucher: its count of uses is its redemption rows, never above its maximum, and
    # each redemption's ledger row credited exactly the voucher's coins.
    miscounted = _db.session.execute(
        text(
            "SELECT v.code FROM vouchers v LEFT JOIN voucher_redemptions r "
            "ON r.voucher_id = v.id GROUP BY v.id, v.code, v.redemptions, v.max_redemptions "
            "HAVING count(r.id) <> v.redemptions OR v.redemptions > v.max_redemptions"
        )
    ).all()
    assert not miscounted, f"vouchers miscounted or over-redeemed: {miscounted}"
    wrong_credit = _db.session.execute(
        text(
            "SELECT r.id FROM voucher_redemptions r JOIN vouchers v ON v.id = r.voucher_id "
            "JOIN coin_transactions t ON t.id = r.transaction_id "
            "WHERE t.kind <> 'voucher' OR t.delta <> v.coins OR t.user_id <> r.user_id"
        )
    ).all()
    assert not wrong_credit, f"redemptions credited wrongly: {wrong_credit}"
    _db.session.rollback()


def _stripe_event(event_id: str, kind: str, obj: dict) -> dict:
    return {"id": event_id, "type": kind, "data": {"object": obj}}


def test_random_lifecycles_keep_the_invariants(app, make_sim_node, run_jobs):
    nodes = [make_sim_node(capacity=1000), make_sim_node(capacity=1000)]

    class Shop(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            # Each example starts from an empty shop: the app fixture cleans once per test.
            _db.session.remove()
            _truncate_all()
            redis.Redis.from_url(TEST_REDIS_URL).flushdb()
            for node in nodes:
                node.clear_faults()
            self.users = [
                User(email=f"buyer{i}@example.com", password_hash=PASSWORD_HASH, coins=0)
                for i in range(2)
            ]
            workers = [
                Worker(name=f"node{i}", base_url=node.url, max_sessions=2)
                for i, node in enumerate(nodes)
            ]
            self.products = [
                VpsProduct(name="both nodes", price_coins=3, provision_action=2, workers=workers),
                VpsProduct(
                    name="timed",
                    price_coins=2,
                    provision_action=1,
                    duration_minutes=30,
                    workers=workers[1:],
                ),
            ]
            _db.session.add_all([*self.users, *workers, *self.products])
            _db.session.flush()
            for user in self.users:  # enough for a few purchases before any grant
                ledger.add(user.id, 9, reason="starting coins")
            # A single-use code, a code for both users and one that is deactivated.
            self.codes = [
                vouchers.create_vouchers(coins=coins, max_redemptions=uses, actor_id=None)[0].code
                for coins, uses in ((4, 1), (3, 2), (5, 2))
            ]
            gone = _db.session.execute(
                select(Voucher).where(Voucher.code == self.codes[2])
            ).scalar_one()
            vouchers.deactivate(gone, actor_id=None)
            _db.session.commit()
            self.user_ids = [u.id for u in self.users]
            self.product_ids = [p.id for p in self.products]
            self.session_ids: list = []
            self.payment_ids: list = []
            self.events_sent = 0

        def teardown(self):
            run_jobs(timeout=1.5)
            _check_invariants()
            for status in _db.session.execute(select(VpsSession.status)).scalars():
                event(f"a session ended the example {status}")
            for status in _db.session.execute(select(Payment.status)).scalars():
                event(f"a payment ended the example {status}")
            _db.session.rollback()

        @rule(user=st.integers(0, 1), amount=st.integers(1, 10))
        def grant(self, user, amount):
            ledger.add(self.user_ids[user], amount, reason="state machine grant")
            _db.session.commit()

        @rule(user=st.integers(0, 1), product=st.integers(0, 1))
        def buy(self, user, product):
            buyer = _db.session.get(User, self.user_ids[user])
            try:
                session = purchase(buyer, self.product_ids[product])
            except ServiceError:  # not enough coins or sold out: nothing charged
                _db.session.rollback()
                return
            self.session_ids.append(session.id)

        @rule(
            user=st.integers(0, 1),
            code=st.integers(0, 2) | st.just(-1),
            typed=st.sampled_from([str, str.lower, lambda c: f"  {c.replace('-', ' ')} "]),
        )
        def redeem(self, user, code, typed):
            raw = "WRONG-CODE-0000" if code < 0 else typed(self.codes[code])
            try:
                vouchers.redeem(self.user_ids[user], raw)
            except ServiceError as refusal:  # unknown, used up, twice, or rate limited
                _db.session.rollback()
                event(f"redeem refused: {refusal.code}")
                return
            _db.session.commit()
            event("redeemed")

        @rule(node=st.integers(0, 1), mode=st.sampled_from(NODE_MODES))
        def node_behaviour(self, node, mode):
            nodes[node].clear_faults()
            if mode is not None:
                nodes[node].set_fault(*mode)

        @rule()
        def work(self):
            # Bounded: a node refusing every stop keeps a retry scheduled forever.
            run_jobs(timeout=1)

        @precondition(lambda self: self.session_ids)
        @rule(pick=st.integers(0, 100))
        def delete(self, pick):
            sid = self.session_ids[pick % len(self.session_ids)]
            owner = _db.session.get(VpsSession, sid).user
            request_delete(owner, sid)

        @precondition(lambda self: self.session_ids)
        @rule(pick=st.integers(0, 100))
        def expire(self, pick):
            ready = (
                _db.session.execute(
                    select(VpsSession).where(VpsSession.status == "ready").order_by(VpsSession.id)
                )
                .scalars()
                .all()
            )
            if ready:  # the time of one ready session is over
                ready[pick % len(ready)].expires_at = utcnow() - timedelta(seconds=1)
            _db.session.commit()
            sweeper.sweep()

        @precondition(lambda self: self.session_ids)
        @rule(pick=st.integers(0, 100), kind=st.sampled_from(JOB_KINDS))
        def job_twice(self, pick, kind):
            sid = str(self.session_ids[pick % len(self.session_ids)])
            job = getattr(provisioning_jobs, f"{kind}_session")
            job(sid)
            job(sid)

        @rule()
        def worker_killed(self):
            # Every queued and scheduled job and every lease is gone, as after a crash
            # that took Redis' memory with it; the sweep must pick up the pieces.
            redis.Redis.from_url(TEST_REDIS_URL).flushdb()
            sweeper.sweep()

        # --- money in: top-ups, refunds, disputes, settling (services/stripe_webhooks.py)

        def _deliver(self, kind: str, obj: dict, again: bool) -> None:
            # ``again``: the same event id as the last one (a redelivery).
            if not again:
                self.events_sent += 1
            event = _stripe_event(f"evt_sm_{self.events_sent}", kind, obj)
            stripe_webhooks.process(event)

        @rule(user=st.integers(0, 1), coins=st.integers(1, 12))
        def start_payment(self, user, coins):
            payment = Payment(
                user_id=self.user_ids[user],
                coins=coins,
                amount_minor=coins * 100,
                currency="eur",
                provider_session_id=f"cs_sm_{len(self.payment_ids)}",
            )
            _db.session.add(payment)
            _db.session.commit()
            self.payment_ids.append(payment.id)

        @precondition(lambda self: self.payment_ids)
        @rule(pick=st.integers(0, 100), again=st.booleans(), asynchronous=st.booleans())
        def top_up(self, pick, again, asynchronous):
            payment = _db.session.get(Payment, self.payment_ids[pick % len(self.payment_ids)])
            obj = {
                "id": payment.provider_session_id,
                "amount_total": payment.amount_minor,
                "currency": "eur",
                "payment_status": "paid",
                "payment_intent": f"pi_sm_{payment.id.hex}",
                "metadata": {"payment_id": str(payment.id)},
            }
            kind = (
                "checkout.session.async_payment_succeeded"
                if asynchronous
                else ("checkout.session.completed")
            )
            self._deliver(kind, obj, again)

        @precondition(lambda self: self.payment_ids)
        @rule(pick=st.integers(0, 100), percent=st.integers(1, 100), again=st.booleans())
        def refund(self, pick, percent, again):
            payment = _db.session.get(Payment, self.payment_ids[pick % len(self.payment_ids)])
            obj = {
                "payment_intent": f"pi_sm_{payment.id.hex}",
                "amount": payment.amount_minor,
                "amount_refunded": payment.amount_minor * percent // 100,
                "currency": "eur",
            }
            self._deliver("charge.refunded", obj, again)

        @precondition(lambda self: self.payment_ids)
        @rule(pick=st.integers(0, 100))
        def dispute(self, pick):
            payment = _db.session.get(Payment, self.payment_ids[pick % len(self.payment_ids)])
            obj = {"payment_intent": f"pi_sm_{payment.id.hex}", "currency": "eur"}
            self._deliver("charge.dispute.created", obj, False)

        @precondition(lambda self: self.payment_ids)
        @rule(pick=st.integers(0, 100), recover=st.booleans())
        def settle(self, pick, recover):
            payment_id = self.payment_ids[pick % len(self.payment_ids)]
            try:
                payments.settle(payment_id, None, recover=recover)
            except ServiceError:  # nothing to settle
                _db.session.rollback()

        @invariant()
        def money_and_capacity(self):
            _check_invariants()

    run_state_machine_as_test(
        Shop,
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
