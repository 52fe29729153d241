"""Purchase: charge, reserve, insert, enqueue; every refusal charges nothing."""

from __future__ import annotations

import socket
import threading
import uuid

import pytest
from sqlalchemy import func, select

from tests.helpers import assert_ledger_invariant, sql_statements
from vpsshop.errors import (
    InsufficientCoins,
    NoCapacity,
    NotFound,
    ServiceUnavailable,
    ValidationError,
)
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, User, VpsSession
from vpsshop.queue import get_queue
from vpsshop.services.purchase import IdempotencyMismatch, purchase


@pytest.fixture(autouse=True)
def _invariant(app):
    yield
    assert_ledger_invariant()


def _count(model) -> int:
    _db.session.expire_all()
    return _db.session.execute(select(func.count()).select_from(model)).scalar()


def test_purchase_charges_reserves_and_enqueues(db, make_user, make_worker, make_product):
    user = make_user(coins=10)
    worker = make_worker()
    product = make_product([worker], price=4)
    session = purchase(user, str(product.id))
    db.session.refresh(user)
    assert user.coins == 6
    assert session.status == "pending"
    assert session.worker_id == worker.id
    assert session.price_coins == 4
    job_ids = get_queue().job_ids
    assert job_ids == [session.rq_job_id]
    assert job_ids[0].startswith(f"provision-{session.id}")
    entry = db.session.execute(
        select(CoinTransaction).where(CoinTransaction.kind == "purchase")
    ).scalar_one()
    assert (entry.delta, entry.session_id) == (-4, session.id)


def test_the_committed_session_and_its_product_come_back_in_one_query(
    db, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=4, name="Flash box")
    user = make_user(coins=10)
    with sql_statements() as statements:
        session = purchase(user, product.id)
        purchased = len(statements)
        # What the answer shows, read without another query.
        shown = (session.status, session.created_at, session.product.name, session.rq_job_id)
    assert len(statements) == purchased
    assert shown[0] == "pending" and shown[1] is not None and shown[2] == "Flash box"
    reload = statements[-1]
    assert reload.lstrip().startswith("SELECT") and "JOIN vps_products" in reload


def test_not_enough_coins_writes_nothing(db, make_user, make_worker, make_product):
    user = make_user(coins=3)
    product = make_product([make_worker()], price=4)
    with pytest.raises(InsufficientCoins) as info:
        purchase(user, product.id)
    assert info.value.status == 402
    assert _count(VpsSession) == 0
    assert _count(CoinTransaction) == 1
    assert get_queue().count == 0


def test_no_capacity_charges_nothing(db, make_user, make_worker, make_product):
    owner = make_user(coins=10)
    product = make_product([make_worker(max_sessions=1)], price=1)
    purchase(owner, product.id)
    buyer = make_user(coins=10)
    with pytest.raises(NoCapacity) as info:
        purchase(buyer, product.id)
    assert (info.value.status, info.value.code) == (409, "no_capacity")
    db.session.refresh(buyer)
    assert buyer.coins == 10
    assert _count(VpsSession) == 1


def test_product_without_workers_has_no_capacity(db, make_user, make_product):
    user = make_user(coins=10)
    with pytest.raises(NoCapacity):
        purchase(user, make_product([]).id)


@pytest.mark.parametrize(
    "product_id", ["nope", "", None, 42, "123e4567-e89b-12d3-a456-42661417400"]
)
def test_bad_product_ids_are_400(db, make_user, product_id):
    with pytest.raises(ValidationError):
        purchase(make_user(coins=5), product_id)


def test_unknown_or_inactive_product_is_404(db, make_user, make_worker, make_product):
    user = make_user(coins=10)
    with pytest.raises(NotFound):
        purchase(user, uuid.uuid4())
    inactive = make_product([make_worker()], active=False)
    with pytest.raises(NotFound):
        purchase(user, inactive.id)
    db.session.refresh(user)
    assert user.coins == 10


def test_idempotency_key_returns_the_same_session(db, make_user, make_worker, make_product):
    user = make_user(coins=10)
    product = make_product([make_worker()], price=3)
    first = purchase(user, product.id, "key-1")
    second = purchase(user, product.id, "key-1")
    assert first.id == second.id
    db.session.refresh(user)
    assert user.coins == 7
    assert _count(VpsSession) == 1
    other = make_product([make_worker()], price=3)
    with pytest.raises(IdempotencyMismatch) as info:
        purchase(user, other.id, "key-1")
    assert info.value.status == 422
    # Keys are per user: another buyer may use the same one.
    assert purchase(make_user(coins=5), product.id, "key-1").id != first.id


@pytest.mark.parametrize("key", ["", "   ", "x" * 201, "a\nb", 5])
def test_bad_idempotency_keys_are_refused(db, make_user, make_worker, make_product, key):
    user = make_user(coins=10)
    product = make_product([make_worker()])
    with pytest.raises(ValidationError):
        purchase(user, product.id, key)
    assert _count(VpsSession) == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestRedisDown:
    @pytest.fixture
    def app_config(self):
        return {"REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}

    def test_purchase_answers_503_and_refunds(self, db, make_user, make_worker, make_product):
        user = make_user(coins=10)
        product = make_product([make_worker()], price=4)
        with pytest.raises(ServiceUnavailable) as info:
            purchase(user, product.id)
        assert info.value.status == 503
        assert "not charged" in info.value.message
        db.session.expire_all()
        assert db.session.get(User, user.id).coins == 10
        session = db.session.execute(select(VpsSession)).scalar_one()
        assert session.status == "failed"
        kinds = sorted(db.session.execute(select(CoinTransaction.kind)).scalars())
        assert kinds == ["admin_add", "purchase", "refund"]


def _race(app, count: int, action) -> list[str]:
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                action(index)
                result = "ok"
            except (InsufficientCoins, NoCapacity) as error:
                result = error.code
            finally:
                _db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_fifty_concurrent_purchases_with_coins_for_one(
    app, db, make_user, make_worker, make_product
):
    user = make_user(coins=5)
    product = make_product([make_worker(max_sessions=100)], price=5)
    user_id, product_id = user.id, product.id

    def buy(_index: int) -> None:
        purchase(_db.session.get(User, user_id), product_id)

    outcomes = _race(app, 50, buy)
    assert outcomes.count("ok") == 1
    assert outcomes.count("insufficient_coins") == 49
    assert _count(VpsSession) == 1
    purchases = db.session.execute(
        select(func.count()).where(CoinTransaction.kind == "purchase")
    ).scalar()
    assert purchases == 1
    assert db.session.get(User, user_id).coins == 0


def test_thirty_concurrent_purchases_never_overfill_workers(
    app, db, make_user, make_worker, make_product
):
    nodes = [make_worker(max_sessions=3) for _ in range(3)]
    product = make_product(nodes, price=2)
    buyers = [make_user(coins=2) for _ in range(30)]
    ids = [b.id for b in buyers]
    product_id = product.id

    def buy(index: int) -> None:
        purchase(_db.session.get(User, ids[index]), product_id)

    outcomes = _race(app, 30, buy)
    assert outcomes.count("ok") == 9
    assert outcomes.count("no_capacity") == 21
    per_worker = dict(
        db.session.execute(
            select(VpsSession.worker_id, func.count()).group_by(VpsSession.worker_id)
        ).all()
    )
    assert sorted(per_worker.values()) == [3, 3, 3]
    charged = db.session.execute(
        select(func.count()).select_from(User).where(User.coins == 0)
    ).scalar()
    assert charged == 9


def test_flash_sale_sixty_four_buyers_for_sixty_slots(
    app, db, make_user, make_worker, make_product
):
    # The bench's flash sale as a guarantee: 20 nodes x 3 slots, 64 buyers at once.
    nodes = [make_worker(max_sessions=3) for _ in range(20)]
    product = make_product(nodes, price=2)
    ids = [make_user(coins=2).id for _ in range(64)]
    product_id = product.id

    def buy(index: int) -> None:
        purchase(_db.session.get(User, ids[index]), product_id)

    outcomes = _race(app, 64, buy)
    assert outcomes.count("ok") == 60
    assert outcomes.count("no_capacity") == 4
    per_worker = dict(
        db.session.execute(
            select(VpsSession.worker_id, func.count()).group_by(VpsSession.worker_id)
        ).all()
    )
    assert per_worker == {node.id: 3 for node in nodes}
    # Nobody charged without a slot: exactly the 60 buyers with a session paid.
    charged = set(
        db.session.execute(
            select(CoinTransaction.user_id).where(CoinTransaction.kind == "purchase")
        ).scalars()
    )
    assert charged == set(db.session.execute(select(VpsSession.user_id)).scalars())
    assert len(charged) == 60
