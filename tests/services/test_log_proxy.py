"""The log proxy: owner-only, coalesced in Redis, bounded, stale on node errors."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import make_test_config
from tests.shop.factories import add_node_session, add_session
from vpsshop import create_app, redis_keys
from vpsshop.models import SessionStatus
from vpsshop.services import log_proxy


@pytest.fixture
def node_product(sim_node, make_worker, make_product):
    return make_product([make_worker(sim_node.url)], action=2)


def test_reads_the_nodes_log(app, sim_node, make_user, node_product):
    session = add_node_session(make_user(), node_product)
    view = log_proxy.read_log(session)
    assert view.state == "live" and view.notice is None
    assert "Starting VM (action=2)" in view.text
    assert "\x1b[" not in view.text  # ANSI colours stripped
    assert view.fetched_at is not None
    assert sim_node.stats["log"] == 1


def test_second_read_within_the_window_reuses_the_fetch(app, sim_node, make_user, node_product):
    session = add_node_session(make_user(), node_product)
    first = log_proxy.read_log(session)
    second = log_proxy.read_log(session)
    assert first.text == second.text
    assert sim_node.stats["log"] == 1


@pytest.mark.parametrize("app_config", [{"LOG_CACHE_SECONDS": 0.3}])
def test_fetches_again_after_the_window(app, sim_node, make_user, node_product):
    session = add_node_session(make_user(), node_product)
    log_proxy.read_log(session)
    time.sleep(0.4)
    log_proxy.read_log(session)
    assert sim_node.stats["log"] == 2


def test_fifty_concurrent_api_requests_make_one_node_fetch(
    app, sim_node, make_user, node_product, api_token
):
    """50 viewers in two app instances (two Redis and DB pools) within the cache window:
    one fetch. The window is widened so that a loaded machine stays inside it: what is
    tested is the coalescing, not how fast 50 requests are served."""
    window = 60.0
    app.config["LOG_CACHE_SECONDS"] = window
    user = make_user()
    session = add_node_session(user, node_product)
    token = api_token(user)
    url = f"/api/v1/vps/sessions/{session.id}/log"
    other_app = create_app(make_test_config(LOG_CACHE_SECONDS=window))
    clients = [app.test_client(), other_app.test_client()]
    barrier = threading.Barrier(50)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def view(index: int) -> None:
        client = clients[index % 2]
        barrier.wait(timeout=10)
        with client.application.app_context():
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        with lock:
            results.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=view, args=(i,)) for i in range(50)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    with other_app.app_context():
        from vpsshop.extensions import db

        db.engine.dispose()
    assert len(results) == 50
    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    assert elapsed < window, f"50 requests took {elapsed:.2f} s; the window is {window:g} s"
    assert sim_node.stats["log"] == 1


def test_concurrent_readers_wait_for_a_slow_fetch(
    app, make_sim_node, make_worker, make_product, make_user
):
    node = make_sim_node(faults={"log": "slow"}, slow_seconds=0.6)
    product = make_product([make_worker(node.url)])
    session = add_node_session(make_user(), product)
    session_id = session.id
    views: list[log_proxy.LogView] = []

    def read() -> None:
        with app.app_context():
            from vpsshop.extensions import db
            from vpsshop.models import VpsSession

            views.append(log_proxy.read_log(db.session.get(VpsSession, session_id)))
            db.session.remove()

    threads = [threading.Thread(target=read) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(views) == 10
    assert {v.state for v in views} == {"live"}
    assert all("Starting VM" in v.text for v in views)
    assert node.stats["log"] == 1


@pytest.mark.parametrize("app_config", [{"LOG_CACHE_SECONDS": 0.2}])
def test_node_error_serves_the_last_log_marked_stale(app, sim_node, make_user, node_product):
    session = add_node_session(make_user(), node_product)
    good = log_proxy.read_log(session)
    sim_node.set_fault("log", "500")
    time.sleep(0.3)
    stale = log_proxy.read_log(session)
    assert stale.state == "stale" and stale.text == good.text
    assert "did not answer" in stale.notice
    assert sim_node.url not in stale.notice
    # The failure is cached for the window too: a dead node is not hammered.
    log_proxy.read_log(session)
    assert sim_node.stats["log"] == 2


def test_node_error_without_a_cached_log_is_unavailable(
    app, make_sim_node, make_worker, make_product, make_user
):
    node = make_sim_node()
    product = make_product([make_worker(node.url)])
    session = add_node_session(make_user(), product)
    node.set_fault("log", "500")
    view = log_proxy.read_log(session)
    assert view.state == "unavailable" and view.text == ""
    assert "unavailable" in view.notice


def test_unreachable_node_is_unavailable(app, closed_port, make_worker, make_product, make_user):
    product = make_product([make_worker(f"http://127.0.0.1:{closed_port}")])
    session = add_session(
        make_user(),
        product,
        SessionStatus.PROVISIONING,
        worker_id=product.workers[0].id,
        worker_route="quack_123abc",
    )
    view = log_proxy.read_log(session)
    assert view.state == "unavailable"
    assert str(closed_port) not in (view.notice or "")


def test_vm_gone_from_the_node(app, sim_node, make_user, node_product):
    session = add_session(
        make_user(),
        node_product,
        SessionStatus.PROVISIONING,
        worker_id=node_product.workers[0].id,
        worker_route="quack_000000",
    )
    view = log_proxy.read_log(session)
    assert view.state == "gone" and view.text == ""
    assert "no longer available" in view.notice


def test_pending_session_never_asks_a_node(app, sim_node, make_user, node_product):
    session = add_session(make_user(), node_product, SessionStatus.PENDING)
    view = log_proxy.read_log(session)
    assert view.state == "pending" and view.text == ""
    assert sim_node.stats["log"] == 0


@pytest.mark.parametrize("app_config", [{"LOG_CACHE_SECONDS": 0.1}])
def test_final_session_serves_its_cached_log_without_asking(
    app, db, sim_node, make_user, node_product
):
    session = add_node_session(make_user(), node_product)
    log_proxy.read_log(session)
    session.status = SessionStatus.DELETED
    db.session.commit()
    time.sleep(0.2)
    view = log_proxy.read_log(session)
    assert "Starting VM" in view.text
    assert view.state == "gone" and "last log we read" in view.notice
    assert sim_node.stats["log"] == 1


@pytest.mark.parametrize("app_config", [{"NODE_LOG_MAX_BYTES": 2048}])
def test_the_log_is_bounded(app, make_sim_node, make_worker, make_product, make_user):
    node = make_sim_node(extra_log_lines=[f"line {i} " + "x" * 60 for i in range(200)])
    product = make_product([make_worker(node.url)])
    view = log_proxy.read_log(add_node_session(make_user(), product))
    assert 0 < len(view.text) <= 2048
    assert "VM ready" in view.text  # the tail is what is kept


def test_tail_lines():
    assert log_proxy.tail_lines("a\nb\nc", 2) == "b\nc"
    assert log_proxy.tail_lines("", 5) == ""


def test_node_with_a_token(app, make_sim_node, make_worker, make_product, make_user):
    node = make_sim_node(token="node-secret-token")
    product = make_product([make_worker(node.url, token="node-secret-token")])
    view = log_proxy.read_log(add_node_session(make_user(), product))
    assert view.state == "live" and "node-secret-token" not in view.text


@pytest.mark.parametrize("app_config", [{"REDIS_URL": "redis://127.0.0.1:1/0"}])
def test_redis_down_means_unavailable_and_no_node_call(
    app, sim_node, make_user, make_worker, make_product
):
    product = make_product([make_worker(sim_node.url)])
    session = add_session(
        make_user(),
        product,
        SessionStatus.PROVISIONING,
        worker_id=product.workers[0].id,
        worker_route="quack_abcdef",
    )
    view = log_proxy.read_log(session)
    assert view.state == "unavailable"
    assert sim_node.stats["log"] == 0


def _every_redis_value(conn) -> bytes:
    """Every string, hash and list value in the Redis db, joined (RQ's included)."""
    values = []
    for key in conn.scan_iter():
        kind = conn.type(key)
        if kind == b"string":
            values.append(conn.get(key) or b"")
        elif kind == b"hash":
            values.extend(conn.hgetall(key).values())
        elif kind == b"list":
            values.extend(conn.lrange(key, 0, -1))
    return b"\n".join(values)


@pytest.mark.parametrize("extra", [[], ["rdp_password: Spelt-0ther-Way"]])
def test_no_password_reaches_redis(app, make_sim_node, make_worker, make_product, make_user, extra):
    """Every spelling the parser reads as the password is masked before it is cached."""
    node = make_sim_node(extra_log_lines=extra)
    product = make_product([make_worker(node.url)], action=2)
    session = add_node_session(make_user(), product)
    route = session.worker_route
    view = log_proxy.read_log(session)
    password = node.vm(route)["password"]
    assert view.state == "live" and "VM ready" in view.text
    stored = _every_redis_value(app.extensions["redis"])
    assert b"VM ready" in stored  # the log is cached...
    assert password.encode() not in stored  # ...but not its password
    assert b"Spelt-0ther-Way" not in stored
    assert password not in view.text


def test_the_cached_log_is_kept_only_for_a_while(app, sim_node, make_user, node_product):
    session = add_node_session(make_user(), node_product)
    log_proxy.read_log(session)
    ttl = app.extensions["redis"].ttl(redis_keys.key("log", session.id, "text"))
    assert 0 < ttl <= app.config["LOG_KEEP_SECONDS"] <= 3600


def test_the_lost_check_and_the_viewers_share_one_fetch_per_window(
    app, sim_node, make_user, node_product
):
    from vpsshop.services import provisioning

    session = add_node_session(make_user(), node_product, SessionStatus.READY)
    log_proxy.read_log(session)
    provisioning.check_ready(session.id)  # the viewer's read answers for the node
    assert sim_node.stats["log"] == 1

    other = add_node_session(make_user(), node_product, SessionStatus.READY)
    provisioning.check_ready(other.id)
    view = log_proxy.read_log(other)  # the check's read serves the viewer
    assert view.state == "live" and "Starting VM (action=2)" in view.text
    assert sim_node.stats["log"] == 2


def test_a_lost_check_ends_a_session_whose_vm_a_viewer_just_found_gone(
    app, sim_node, make_user, node_product
):
    from tests.helpers import fresh
    from vpsshop.services import provisioning

    session = add_node_session(make_user(), node_product, SessionStatus.READY)
    sim_node.forget_vms()
    assert log_proxy.read_log(session).state == "gone"
    provisioning.check_ready(session.id)
    assert fresh(session.id).status == "lost"
    assert sim_node.stats["log"] == 1


@pytest.mark.parametrize("app_config", [{"REDIS_URL": "redis://127.0.0.1:1/0"}])
def test_without_redis_the_lost_check_still_asks_the_node(app, sim_node, make_user, node_product):
    from tests.helpers import fresh
    from vpsshop.services import provisioning

    session = add_node_session(make_user(), node_product, SessionStatus.READY)
    sim_node.forget_vms()
    provisioning.check_ready(session.id)
    assert fresh(session.id).status == "lost"
    assert sim_node.stats["log"] == 1
