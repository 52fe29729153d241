"""Worker registry, capacity-safe selection on PostgreSQL, health and probes."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections import Counter
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select, text

from jobs import health
from tests.helpers import sql_statements
from vpsshop.errors import Conflict, ValidationError
from vpsshop.models import AuditEntry, VpsProduct, VpsSession, Worker
from vpsshop.rq_worker import AppSimpleWorker
from vpsshop.services import workers

TOKEN = "node-token-Zq83kfP0"


@pytest.fixture
def app_config():
    # The race below runs 30 sessions at once: each needs its own connection.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": 32}}


@pytest.fixture
def make_worker(db):
    """Factory: a committed worker registered through the service."""
    counter = iter(range(1, 10_000))

    def factory(name=None, *, max_sessions=3, base_url="http://127.0.0.1:9", **fields):
        worker = workers.register_worker(
            name or f"node-{next(counter)}", base_url, max_sessions=max_sessions
        )
        for field, value in fields.items():
            setattr(worker, field, value)
        db.session.commit()
        return worker

    return factory


@pytest.fixture
def make_product(db):
    def factory(worker_list, action=3):
        product = VpsProduct(
            name="Test VM", price_coins=5, provision_action=action, workers=list(worker_list)
        )
        db.session.add(product)
        db.session.commit()
        return product

    return factory


@pytest.fixture
def add_sessions(db, make_user):
    """Factory: ``add_sessions(product, worker, n, status)`` committed sessions."""
    user = None

    def factory(product, worker, count=1, status="pending"):
        nonlocal user
        user = user or make_user()
        for _ in range(count):
            db.session.add(
                VpsSession(
                    user_id=user.id,
                    product_id=product.id,
                    price_coins=5,
                    status=status,
                    worker_id=worker.id,
                )
            )
        db.session.commit()

    return factory


# --- base URL validation ------------------------------------------------------------

GOOD_URLS = [
    ("http://10.0.0.5:4000", "http://10.0.0.5:4000"),
    ("https://nodes.example.com/n1", "https://nodes.example.com/n1"),
    ("HTTPS://Nodes.Example.COM/Pool/N1/", "https://nodes.example.com/Pool/N1"),
    ("  http://node1:4000///  ", "http://node1:4000"),
    ("http://127.0.0.1", "http://127.0.0.1"),
    ("http://127.0.0.1:/", "http://127.0.0.1"),
    ("http://[2001:DB8::1]:4000/", "http://[2001:db8::1]:4000"),
    ("http://worker_1:4000", "http://worker_1:4000"),
    ("https://a.example.com:8443/deep/path/x", "https://a.example.com:8443/deep/path/x"),
]

BAD_URLS = [
    (None, "is required"),
    (42, "is required"),
    ("", "is required"),
    ("   ", "is required"),
    ("ftp://nodes.example.com", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("nodes.example.com:4000", "only http:// and https://"),
    ("//nodes.example.com", "only http:// and https://"),
    ("http://", "a host is required"),
    ("http:///path", "a host is required"),
    ("http://user:secret@nodes.example.com", "user name or password"),
    ("http://@nodes.example.com", "user name or password"),
    ("http://nodes.example.com/?a=1", "query string"),
    ("http://nodes.example.com/?", "query string"),
    ("http://nodes.example.com/#top", "fragment"),
    ("http://nodes.example.com:99999", "cannot be parsed"),
    ("http://nodes.example.com:ssh", "cannot be parsed"),
    ("http://nodes.example.com:0", "port 0"),
    ("http://nodes example.com", "spaces or control characters"),
    ("http://nodes.example.com/a\nb", "spaces or control characters"),
    ("http://nodes.example.com\\@evil.example", "backslash"),
    ("http://bücher.example", "non-ASCII"),
    ("http://[::zz]:80", "cannot be parsed"),
    ("http://-bad-.example.com", "not a valid host name"),
    ("http://bad!host", "not a valid host name"),
    ("http://" + "a" * 490 + ".example.com", "longer than 500"),
]


@pytest.mark.parametrize(("raw", "expected"), GOOD_URLS)
def test_good_base_urls_are_normalised(raw, expected):
    assert workers.normalise_base_url(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), BAD_URLS)
def test_bad_base_urls_are_refused_with_a_reason(raw, reason):
    with pytest.raises(ValidationError) as info:
        workers.normalise_base_url(raw)
    assert info.value.code == "invalid_base_url"
    assert info.value.message.startswith("Invalid base URL: ")
    assert reason in info.value.message


# --- registry -----------------------------------------------------------------------


def _audit_rows(db):
    return db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()


def _raw_column_dump(db) -> str:
    """Every worker and audit row as the database holds it."""
    rows = db.session.execute(text("SELECT * FROM workers")).all()
    rows += db.session.execute(text("SELECT * FROM audit_entries")).all()
    return repr(rows)


def test_register_worker_normalises_and_audits(db, make_user):
    admin = make_user(admin=True)
    worker = workers.register_worker(
        "  gpu-1 ", "HTTP://Node1.Example:4000/", max_sessions=5, actor_id=admin.id
    )
    db.session.commit()
    assert (worker.name, worker.base_url, worker.max_sessions) == (
        "gpu-1",
        "http://node1.example:4000",
        5,
    )
    assert worker.status == "active"
    assert worker.consecutive_failures == 0
    assert worker.token_encrypted is None
    assert workers.worker_token(worker) is None
    [entry] = _audit_rows(db)
    assert (entry.action, entry.target_type, entry.target_id) == (
        "worker.register",
        "worker",
        str(worker.id),
    )
    assert entry.actor_id == admin.id
    assert json.loads(entry.details) == {
        "name": "gpu-1",
        "base_url": "http://node1.example:4000",
        "max_sessions": 5,
        "has_token": False,
    }


def test_token_is_stored_encrypted_and_never_audited(db):
    worker = workers.register_worker("gpu-1", "http://10.0.0.5:4000", token=f"  {TOKEN} ")
    db.session.commit()
    assert worker.token_encrypted and TOKEN not in worker.token_encrypted
    assert workers.worker_token(worker) == TOKEN
    assert json.loads(_audit_rows(db)[0].details)["has_token"] is True

    workers.update_worker(worker, {"token": TOKEN + "-2"})
    db.session.commit()
    assert workers.worker_token(worker) == TOKEN + "-2"
    dump = _raw_column_dump(db)
    assert TOKEN not in dump
    assert json.loads(_audit_rows(db)[-1].details) == {"token": "set"}


def test_duplicate_name_is_a_conflict(db, make_worker):
    make_worker("gpu-1")
    with pytest.raises(Conflict) as info:
        workers.register_worker("gpu-1", "http://10.0.0.6:4000")
    assert info.value.code == "worker_name_taken"
    assert "gpu-1" in info.value.message


@pytest.mark.parametrize("name", ["", "   ", None, 7, "x" * 101])
def test_bad_names_are_refused(db, name):
    with pytest.raises(ValidationError) as info:
        workers.register_worker(name, "http://10.0.0.5:4000")
    assert info.value.code == "invalid_name"


@pytest.mark.parametrize("max_sessions", [0, -1, 1001, "3", 2.5, True, None])
def test_bad_max_sessions_are_refused(db, max_sessions):
    with pytest.raises(ValidationError) as info:
        workers.register_worker("gpu-1", "http://10.0.0.5:4000", max_sessions=max_sessions)
    assert info.value.code == "invalid_max_sessions"


@pytest.mark.parametrize("token", ["has space", "line\nbreak", "ü-token", 12, "t" * 1001])
def test_bad_tokens_are_refused(db, token):
    with pytest.raises(ValidationError) as info:
        workers.register_worker("gpu-1", "http://10.0.0.5:4000", token=token)
    assert info.value.code == "invalid_token"


def test_max_sessions_bounds_are_accepted(db):
    assert workers.register_worker("a", "http://a:1", max_sessions=1).max_sessions == 1
    assert workers.register_worker("b", "http://b:1", max_sessions=1000).max_sessions == 1000


def test_update_worker_changes_fields_and_audits(db, make_user, make_worker):
    admin = make_user(admin=True)
    worker = make_worker("gpu-1")
    workers.update_worker(
        worker,
        {
            "name": "gpu-one",
            "base_url": "https://nodes.example.com/n1/",
            "max_sessions": 7,
            "status": "disabled",
        },
        actor_id=admin.id,
    )
    db.session.commit()
    db.session.refresh(worker)
    assert (worker.name, worker.base_url, worker.max_sessions, worker.status) == (
        "gpu-one",
        "https://nodes.example.com/n1",
        7,
        "disabled",
    )
    entry = _audit_rows(db)[-1]
    assert (entry.action, entry.actor_id) == ("worker.update", admin.id)
    assert json.loads(entry.details) == {
        "name": "gpu-one",
        "base_url": "https://nodes.example.com/n1",
        "max_sessions": 7,
        "status": "disabled",
    }


def test_update_token_absent_keeps_it_empty_or_none_clears_it(db):
    worker = workers.register_worker("gpu-1", "http://10.0.0.5:4000", token=TOKEN)
    db.session.commit()
    workers.update_worker(worker, {"max_sessions": 4})
    assert workers.worker_token(worker) == TOKEN
    workers.update_worker(worker, {"token": ""})
    assert worker.token_encrypted is None
    workers.update_worker(worker, {"token": TOKEN})
    workers.update_worker(worker, {"token": None})
    db.session.commit()
    assert worker.token_encrypted is None
    details = [json.loads(e.details) for e in _audit_rows(db)[1:]]
    assert details == [
        {"max_sessions": 4},
        {"token": "cleared"},
        {"token": "set"},
        {"token": "cleared"},
    ]
    assert TOKEN not in _raw_column_dump(db)


def test_update_refusals_change_nothing(db, make_worker):
    make_worker("taken")
    worker = make_worker("gpu-1", max_sessions=3)
    before = (worker.name, worker.base_url, worker.max_sessions, worker.status)
    refusals = [
        ({"name": "taken"}, Conflict, "worker_name_taken"),
        ({"colour": "red", "name": "x"}, ValidationError, "unknown_field"),
        ({"max_sessions": 4, "base_url": "ftp://x"}, ValidationError, "invalid_base_url"),
        ({"name": "ok", "max_sessions": 0}, ValidationError, "invalid_max_sessions"),
        ({"status": "deleted"}, ValidationError, "invalid_status"),
        ({"max_sessions": 5, "token": "bad token"}, ValidationError, "invalid_token"),
    ]
    for changes, error, code in refusals:
        with pytest.raises(error) as info:
            workers.update_worker(worker, changes)
        assert info.value.code == code, changes
    db.session.commit()
    db.session.refresh(worker)
    assert (worker.name, worker.base_url, worker.max_sessions, worker.status) == before


def test_update_to_its_own_name_is_fine(db, make_worker):
    worker = make_worker("gpu-1")
    workers.update_worker(worker, {"name": "gpu-1"})
    db.session.commit()
    assert worker.name == "gpu-1"


def test_disable_and_enable(db, make_user, make_worker):
    admin = make_user(admin=True)
    worker = make_worker("gpu-1")
    workers.set_worker_status(worker, "disabled", actor_id=admin.id)
    workers.set_worker_status(worker, "disabled", actor_id=admin.id)  # no second audit row
    db.session.commit()
    assert worker.status == "disabled"
    workers.set_worker_status(worker, "active", actor_id=admin.id)
    db.session.commit()
    assert worker.status == "active"
    assert [e.action for e in _audit_rows(db)] == [
        "worker.register",
        "worker.disable",
        "worker.enable",
    ]
    with pytest.raises(ValidationError) as info:
        workers.set_worker_status(worker, "paused")
    assert info.value.code == "invalid_status"


# --- selection ----------------------------------------------------------------------


def test_active_session_counts_count_only_active_states(
    db, make_worker, make_product, add_sessions
):
    busy, idle = make_worker(), make_worker()
    product = make_product([busy, idle])
    for status in ("pending", "provisioning", "ready", "stopping"):
        add_sessions(product, busy, 1, status)
    for status in ("deleted", "expired", "failed"):
        add_sessions(product, busy, 2, status)
    assert workers.active_session_counts([busy.id, idle.id]) == {busy.id: 4, idle.id: 0}
    assert workers.active_session_counts([]) == {}


def test_least_loaded_worker_is_chosen(db, make_worker, make_product, add_sessions):
    a, b, c = make_worker(), make_worker(), make_worker()
    product = make_product([a, b, c])
    add_sessions(product, a, 2)
    add_sessions(product, b, 1)
    add_sessions(product, c, 2)
    for _ in range(20):
        assert workers.reserve_slot(product) == b
        db.session.rollback()
    add_sessions(product, b, 2)  # b now has 3 = full
    picks = set()
    for _ in range(40):
        picks.add(workers.reserve_slot(product).id)
        db.session.rollback()
    assert picks == {a.id, c.id}


def test_ties_are_spread_evenly(db, make_worker, make_product):
    trio = [make_worker() for _ in range(3)]
    product = make_product(trio)
    # Nothing is inserted, so the three stay tied at zero for every pick.
    picks = Counter()
    for _ in range(300):
        picks[workers.reserve_slot(product).id] += 1
        db.session.rollback()
    assert set(picks) == {w.id for w in trio}
    assert min(picks.values()) >= 60, picks


def test_disabled_unhealthy_full_and_foreign_workers_are_never_chosen(
    db, make_worker, make_product, add_sessions
):
    good = make_worker(max_sessions=3)
    disabled = make_worker(status="disabled")
    unhealthy = make_worker(consecutive_failures=3)
    full = make_worker(max_sessions=1)
    foreign = make_worker()  # belongs to another product only
    product = make_product([good, disabled, unhealthy, full])
    make_product([foreign])
    add_sessions(product, good, 2)
    add_sessions(product, full, 1, "ready")
    for _ in range(30):
        assert workers.reserve_slot(product) == good
        db.session.rollback()
    assert workers.product_available(product)
    add_sessions(product, good, 1, "stopping")
    assert workers.reserve_slot(product) is None
    db.session.rollback()
    assert not workers.product_available(product)


def test_exclude_is_respected(db, make_worker, make_product, add_sessions):
    a, b = make_worker(), make_worker()
    product = make_product([a, b])
    add_sessions(product, b, 2)  # a is the least loaded, but excluded
    for _ in range(10):
        assert workers.reserve_slot(product, exclude=[a.id]) == b
        db.session.rollback()
    assert workers.reserve_slot(product, exclude=[a.id, b.id]) is None


def test_product_without_workers_has_no_slot(db, make_product):
    product = make_product([])
    assert workers.reserve_slot(product) is None
    assert not workers.product_available(product)


def _race(app, db, product_ids, threads=30):
    """Each thread reserves a slot for one of ``product_ids`` and inserts a session."""
    user_id = db.session.execute(text("SELECT id FROM users LIMIT 1")).scalar_one()
    db.session.commit()
    barrier = threading.Barrier(threads)
    outcomes: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reserve(index: int) -> None:
        with app.app_context():
            try:
                product = db.session.get(VpsProduct, product_ids[index % len(product_ids)])
                barrier.wait(timeout=30)
                worker = workers.reserve_slot(product)
                if worker is not None:
                    db.session.add(
                        VpsSession(
                            user_id=user_id,
                            product_id=product.id,
                            price_coins=5,
                            status="pending",
                            worker_id=worker.id,
                        )
                    )
                db.session.commit()
                with lock:
                    outcomes.append(worker.id if worker else None)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                with lock:
                    errors.append(exc)
            finally:
                db.session.remove()

    pool = [threading.Thread(target=reserve, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert not any(thread.is_alive() for thread in pool)
    assert not errors, errors
    return outcomes


def _sessions_per_worker(db) -> dict:
    db.session.expire_all()
    rows = db.session.execute(
        select(VpsSession.worker_id, func.count()).group_by(VpsSession.worker_id)
    ).all()
    return dict(rows)


def test_thirty_concurrent_reservations_fill_exactly_nine_slots(
    app, db, make_user, make_worker, make_product
):
    make_user()
    trio = [make_worker(max_sessions=3) for _ in range(3)]
    product = make_product(trio)
    outcomes = _race(app, db, [product.id])
    assert len(outcomes) == 30
    assert sum(o is not None for o in outcomes) == 9
    assert _sessions_per_worker(db) == {w.id: 3 for w in trio}


def test_concurrent_reservations_over_shared_workers_do_not_deadlock(
    app, db, make_user, make_worker, make_product
):
    # Two products share worker b; the id-ordered locks keep them from deadlocking.
    make_user()
    a, b, c = (make_worker(max_sessions=3) for _ in range(3))
    first = make_product([a, b])
    second = make_product([c, b])
    outcomes = _race(app, db, [first.id, second.id])
    assert sum(o is not None for o in outcomes) == 9
    assert _sessions_per_worker(db) == {a.id: 3, b.id: 3, c.id: 3}


# --- health -------------------------------------------------------------------------


def test_three_failures_make_a_worker_unhealthy_and_success_restores_it(
    db, make_worker, make_product
):
    worker = make_worker()
    product = make_product([worker])
    for attempt in range(3):
        assert workers.is_healthy(worker)
        assert workers.reserve_slot(product) == worker
        db.session.rollback()
        workers.record_failure(worker, f"unreachable: attempt {attempt}")
        db.session.commit()
    assert worker.consecutive_failures == 3
    assert not workers.is_healthy(worker)
    assert workers.reserve_slot(product) is None
    assert not workers.product_available(product)
    assert worker.last_error == "unreachable: attempt 2"
    assert worker.last_error_at is not None
    assert worker.last_seen_at is None

    workers.record_success(worker)
    db.session.commit()
    assert worker.consecutive_failures == 0
    assert worker.last_seen_at is not None
    assert workers.is_healthy(worker)
    assert workers.reserve_slot(product) == worker


@pytest.mark.parametrize("app_config", [{"NODE_UNHEALTHY_AFTER": 5}])
def test_unhealthy_threshold_is_configurable(db, make_worker):
    worker = make_worker()
    for _ in range(4):
        workers.record_failure(worker, "boom")
    assert workers.is_healthy(worker)
    workers.record_failure(worker, "boom")
    assert not workers.is_healthy(worker)


def test_a_nul_in_a_node_error_is_dropped_before_it_is_stored(db, make_worker):
    worker = make_worker()
    workers.record_failure(worker, "bad answer: a\x00b")
    db.session.commit()
    db.session.refresh(worker)
    assert worker.last_error == "bad answer: ab"


def test_last_error_is_cut_to_500_characters(db, make_worker):
    worker = make_worker()
    workers.record_failure(worker, "x" * 2000)
    db.session.commit()
    assert len(worker.last_error) == 500


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(404)  # any HTTP answer counts as reachable
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def live_url():
    """A real HTTP server on loopback that answers every GET."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def closed_url():
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_probe_of_a_live_node_records_success(db, make_worker, live_url):
    worker = make_worker(base_url=live_url, consecutive_failures=2)
    assert workers.probe_worker(worker) is True
    db.session.commit()
    assert worker.consecutive_failures == 0
    assert worker.last_seen_at is not None


def test_probes_of_a_dead_node_make_it_unhealthy_and_a_good_probe_restores_it(
    db, make_worker, make_product, live_url, closed_url
):
    worker = make_worker(base_url=closed_url)
    product = make_product([worker])
    for _ in range(3):
        assert workers.probe_worker(worker) is False
        db.session.commit()
    assert worker.consecutive_failures == 3
    assert worker.last_error.startswith("probe failed (unreachable)")
    assert workers.reserve_slot(product) is None
    db.session.rollback()

    workers.update_worker(worker, {"base_url": live_url})
    assert workers.probe_worker(worker) is True
    db.session.commit()
    assert workers.is_healthy(worker)
    assert workers.reserve_slot(product) == worker


def test_probe_all_workers_skips_disabled_and_commits(db, make_worker, live_url, closed_url):
    alive = make_worker(base_url=live_url, consecutive_failures=1)
    dead = make_worker(base_url=closed_url)
    disabled = make_worker(base_url=closed_url, status="disabled")
    assert workers.probe_all_workers() == {alive.id: True, dead.id: False}
    db.session.rollback()  # nothing left to roll back: every probe was committed
    db.session.expire_all()
    assert (alive.consecutive_failures, dead.consecutive_failures) == (0, 1)
    assert disabled.consecutive_failures == 0 and disabled.last_error is None


def test_health_job_runs_in_an_rq_worker(app, db, redis_conn, make_worker, live_url, closed_url):
    alive = make_worker(base_url=live_url)
    dead = make_worker(base_url=closed_url)
    queue = Queue("health-test", connection=redis_conn)
    job = queue.enqueue(health.probe_workers, job_timeout=60, result_ttl=60, failure_ttl=60)
    rq_worker = AppSimpleWorker([queue], connection=redis_conn)
    rq_worker.flask_app = app
    rq_worker.work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    assert job.return_value() == {str(alive.id): True, str(dead.id): False}
    db.session.expire_all()
    assert dead.consecutive_failures == 1


def _hold_worker_lock(app, db, worker_id, release: threading.Event, held: threading.Event):
    """A thread that locks ``worker_id`` as a purchase in progress does, until ``release``."""

    def hold() -> None:
        with app.app_context():
            try:
                db.session.execute(
                    select(Worker).where(Worker.id == worker_id).with_for_update()
                ).scalar_one()
                held.set()
                release.wait(30)  # bounded: the test never hangs on a lost event
            finally:
                db.session.rollback()
                db.session.remove()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30), "the holder never got the lock"
    return thread


@pytest.mark.postgresql_only
def test_a_worker_locked_by_another_purchase_is_passed_over(
    app, db, make_worker, make_product, add_sessions
):
    # The locked one is the least loaded: waiting for it would have returned it.
    locked, other = make_worker(max_sessions=3), make_worker(max_sessions=3)
    product = make_product([locked, other])
    add_sessions(product, other, 1)
    locked_id, other_id = locked.id, other.id
    release, held = threading.Event(), threading.Event()
    holder = _hold_worker_lock(app, db, locked_id, release, held)
    try:
        chosen = workers.reserve_slot(db.session.get(VpsProduct, product.id))
        assert chosen is not None and chosen.id == other_id
        db.session.rollback()
    finally:
        release.set()
        holder.join(30)


@pytest.mark.postgresql_only
def test_every_held_worker_is_passed_over_in_one_lock_statement(
    app, db, make_worker, make_product, add_sessions
):
    # Three held, each less loaded than the free one: a rush's buyer behind three others.
    nodes = [make_worker(max_sessions=3) for _ in range(4)]
    product = make_product(nodes)
    add_sessions(product, nodes[3], 2)
    ids = [node.id for node in nodes]
    release = threading.Event()
    holders = [_hold_worker_lock(app, db, i, release, threading.Event()) for i in ids[:3]]
    try:
        with sql_statements() as statements:
            chosen = workers.reserve_slot(db.session.get(VpsProduct, product.id))
        assert chosen is not None and chosen.id == ids[3]
        locks = [statement for statement in statements if "FOR UPDATE" in statement]
        assert len(locks) == 1 and "SKIP LOCKED" in locks[0]
        db.session.rollback()
    finally:
        release.set()
        for holder in holders:
            holder.join(30)


@pytest.mark.postgresql_only
def test_when_every_free_worker_is_locked_the_buyer_waits_instead_of_a_409(
    app, db, make_worker, make_product
):
    only = make_worker(max_sessions=3)
    product = make_product([only])
    only_id, product_id = only.id, product.id
    release, held = threading.Event(), threading.Event()
    holder = _hold_worker_lock(app, db, only_id, release, held)
    got: list[object] = []

    def reserve() -> None:
        with app.app_context():
            try:
                worker = workers.reserve_slot(db.session.get(VpsProduct, product_id))
                got.append(worker.id if worker is not None else None)
            finally:
                db.session.rollback()
                db.session.remove()

    buyer = threading.Thread(target=reserve)
    buyer.start()
    release.set()  # the other purchase ends without taking the slot
    holder.join(30)
    buyer.join(30)
    assert got == [only_id]


def test_note_seen_writes_only_when_failures_reset_or_last_seen_is_stale(db, make_worker):
    worker = make_worker(consecutive_failures=2)
    workers.note_seen(worker.id)
    db.session.commit()
    db.session.refresh(worker)
    assert worker.consecutive_failures == 0 and worker.last_seen_at is not None
    seen = worker.last_seen_at

    workers.note_seen(worker.id)  # seen a moment ago: nothing to write
    db.session.commit()
    db.session.refresh(worker)
    assert worker.last_seen_at == seen

    stale = seen - timedelta(seconds=workers.SEEN_REFRESH_SECONDS + 1)
    worker.last_seen_at = stale
    db.session.commit()
    workers.note_seen(worker.id)
    db.session.commit()
    db.session.refresh(worker)
    assert worker.last_seen_at > seen


@pytest.mark.postgresql_only
def test_note_seen_of_a_fresh_node_does_not_wait_for_a_purchase_holding_its_row(
    app, db, make_worker
):
    worker = make_worker()
    workers.note_seen(worker.id)
    db.session.commit()
    worker_id = worker.id
    release, held = threading.Event(), threading.Event()
    holder = _hold_worker_lock(app, db, worker_id, release, held)
    done = threading.Event()

    def note() -> None:
        with app.app_context():
            try:
                workers.note_seen(worker_id)
                db.session.commit()
                done.set()
            finally:
                db.session.remove()

    noter = threading.Thread(target=note)
    noter.start()
    try:
        # The row is locked throughout: an UPDATE that had to write would wait for it.
        assert done.wait(10), "note_seen waited for the purchase's row lock"
    finally:
        release.set()
        holder.join(30)
        noter.join(30)
