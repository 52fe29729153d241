"""The buyer's JSON API: products, purchase-and-create, sessions, delete, log, events."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from tests.helpers import assert_ledger_invariant, csrf_token_from, sql_statements
from tests.shop.factories import READY_PASSWORD, add_node_session, add_session
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, SessionStatus, User, VpsSession
from vpsshop.services.log_parser import PASSWORD_MASK

SESSION_KEYS = {
    "id",
    "product_id",
    "product_name",
    "status",
    "created_at",
    "ready_at",
    "expires_at",
    "error",
    "credentials",
    # #17: what one extension buys now (None when the product sells none).
    "extension",
}
PRODUCT_KEYS = {"id", "name", "price_coins", "provision_action", "duration_minutes", "available"}
# #17: extension terms, free slots and the waitlist, beside the DESIGN.md fields.
PRODUCT_TIME_KEYS = {
    "extend_minutes",
    "extend_price_coins",
    "max_total_minutes",
    "free_slots",
    "waiting",
    "next_slot_expected_at",
    "waitlist_entry_id",
    "waitlist_position",
}
FAST_JOBS = {"WATCH_INTERVAL_SECONDS": 0.1, "STOP_RETRY_BASE_SECONDS": 0.1}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def buyer(make_user, api_token):
    """A user with 20 coins and the headers of their API token."""
    user = make_user(coins=20)
    return user, bearer(api_token(user))


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="Windows Box")


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads("".join(line[6:] for line in lines if line.startswith("data: ")))
        events.append((name, data))
    return events


# ----- products -------------------------------------------------------------------------


def test_products_shape_and_availability(client, buyer, make_worker, make_product, make_user):
    _, headers = buyer
    full = make_worker(max_sessions=1)
    sold_out = make_product([full], price=3, action=1, duration=30, name="Linux Tiny")
    on_sale = make_product([make_worker()], price=9, action=3, name="Test Box")
    make_product([make_worker()], active=False, name="Retired")
    add_session(make_user(), sold_out, SessionStatus.READY, worker_id=full.id)
    response = client.get("/api/v1/vps/products", headers=headers)
    assert response.status_code == 200
    products = response.get_json()["products"]
    assert [p["name"] for p in products] == ["Linux Tiny", "Test Box"]
    assert all(set(p) == PRODUCT_KEYS | PRODUCT_TIME_KEYS for p in products)
    assert {key: products[0][key] for key in PRODUCT_KEYS} == {
        "id": str(sold_out.id),
        "name": "Linux Tiny",
        "price_coins": 3,
        "provision_action": 1,
        "duration_minutes": 30,
        "available": False,
    }
    assert products[0]["free_slots"] == 0 and products[1]["free_slots"] == 3
    assert products[1]["id"] == str(on_sale.id)
    assert products[1]["available"] is True and products[1]["duration_minutes"] is None


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/vps/products"),
        ("post", "/api/v1/vps/purchase-and-create"),
        ("get", "/api/v1/vps/sessions"),
        ("get", "/api/v1/vps/sessions/{id}"),
        ("delete", "/api/v1/vps/sessions/{id}"),
        ("get", "/api/v1/vps/sessions/{id}/log"),
        ("get", "/api/v1/vps/sessions/{id}/events"),
    ],
)
def test_every_endpoint_needs_a_token(client, method, path):
    response = getattr(client, method)(path.format(id=uuid.uuid4()))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


# ----- purchase -------------------------------------------------------------------------


def test_purchase_answers_202_with_the_session(client, db, buyer, product):
    user, headers = buyer
    response = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert response.status_code == 202
    session = response.get_json()["session"]
    assert set(session) == SESSION_KEYS
    assert session["status"] == "pending" and session["credentials"] is None
    assert session["product_id"] == str(product.id) and session["product_name"] == "Windows Box"
    assert _db.session.get(User, user.id).coins == 15
    assert_ledger_invariant()


def test_same_idempotency_key_returns_the_same_session_and_charges_once(client, buyer, product):
    user, headers = buyer
    headers = {**headers, "Idempotency-Key": "order-42"}
    body = {"product_id": str(product.id)}
    first = client.post("/api/v1/vps/purchase-and-create", json=body, headers=headers)
    second = client.post("/api/v1/vps/purchase-and-create", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.get_json()["session"]["id"] == second.get_json()["session"]["id"]
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 15
    assert _db.session.execute(select(func.count(VpsSession.id))).scalar_one() == 1


def test_idempotency_key_reused_for_another_product_is_refused(
    client, buyer, product, make_worker, make_product
):
    _, headers = buyer
    other = make_product([make_worker()])
    headers = {**headers, "Idempotency-Key": "k1"}
    client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    response = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(other.id)}, headers=headers
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "idempotency_mismatch"


@pytest.mark.parametrize("key", ["x" * 201, "   ", "bad\tkey", "caf\u00e9"])
def test_bad_idempotency_keys_are_400(client, buyer, product, key):
    user, headers = buyer
    response = client.post(
        "/api/v1/vps/purchase-and-create",
        json={"product_id": str(product.id)},
        headers={**headers, "Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_idempotency_key"
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 20


def test_idempotency_key_of_200_characters_is_fine(client, buyer, product):
    _, headers = buyer
    response = client.post(
        "/api/v1/vps/purchase-and-create",
        json={"product_id": str(product.id)},
        headers={**headers, "Idempotency-Key": "k" * 200},
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "data,content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("null", "application/json"),
        ("", "application/json"),
        ("product_id=x", "application/x-www-form-urlencoded"),
        ("{}", "application/json"),
        ('{"product_id": 5}', "application/json"),
        ('{"product_id": null}', "application/json"),
        ('{"product_id": ["a"]}', "application/json"),
        ('{"product_id": "not-a-uuid"}', "application/json"),
        ('{"product_id": ""}', "application/json"),
    ],
)
def test_malformed_purchase_bodies_are_400_json(client, buyer, data, content_type):
    _, headers = buyer
    response = client.post(
        "/api/v1/vps/purchase-and-create", data=data, content_type=content_type, headers=headers
    )
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error", "message"} and body["message"]


def test_purchase_of_unknown_product_is_404(client, buyer):
    _, headers = buyer
    response = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(uuid.uuid4())}, headers=headers
    )
    assert response.status_code == 404


def test_purchase_without_enough_coins_is_402(client, make_user, api_token, product):
    user = make_user(coins=4)
    response = client.post(
        "/api/v1/vps/purchase-and-create",
        json={"product_id": str(product.id)},
        headers=bearer(api_token(user)),
    )
    assert response.status_code == 402
    assert response.get_json()["error"] == "insufficient_coins"
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 4


def test_purchase_when_sold_out_is_409(client, buyer, make_worker, make_product, make_user):
    user, headers = buyer
    worker = make_worker(max_sessions=1)
    product = make_product([worker])
    add_session(make_user(), product, SessionStatus.PROVISIONING, worker_id=worker.id)
    response = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "no_capacity"
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 20


# ----- sessions -------------------------------------------------------------------------


def test_sessions_lists_only_mine_newest_first(client, buyer, product, make_user):
    user, headers = buyer
    older = add_session(user, product, SessionStatus.DELETED)
    newer = add_session(user, product, SessionStatus.PENDING)
    newer.created_at = older.created_at.replace(year=older.created_at.year + 1)
    _db.session.commit()
    add_session(make_user(), product)
    response = client.get("/api/v1/vps/sessions", headers=headers)
    sessions = response.get_json()["sessions"]
    assert [s["id"] for s in sessions] == [str(newer.id), str(older.id)]
    assert all(set(s) == SESSION_KEYS for s in sessions)


def test_session_detail_without_and_with_credentials(client, buyer, product):
    user, headers = buyer
    pending = add_session(user, product, SessionStatus.PROVISIONING)
    ready = add_session(user, product, SessionStatus.READY)
    body = client.get(f"/api/v1/vps/sessions/{pending.id}", headers=headers).get_json()
    assert body["session"]["credentials"] is None and body["session"]["ready_at"] is None
    body = client.get(f"/api/v1/vps/sessions/{ready.id}", headers=headers).get_json()
    assert set(body) == {"session"} and set(body["session"]) == SESSION_KEYS
    assert body["session"]["credentials"] == {
        "host": "203.0.113.7",
        "port": 3389,
        "username": "Administrator",
        "password": READY_PASSWORD,
    }
    assert body["session"]["ready_at"].endswith("+00:00")


def test_failed_session_carries_its_error(client, buyer, product):
    user, headers = buyer
    failed = add_session(user, product, SessionStatus.FAILED, error="No node had room.")
    body = client.get(f"/api/v1/vps/sessions/{failed.id}", headers=headers).get_json()
    assert body["session"]["status"] == "failed"
    assert body["session"]["error"] == "No node had room."
    assert body["session"]["credentials"] is None


@pytest.mark.parametrize(
    "method,suffix", [("get", ""), ("delete", ""), ("get", "/log"), ("get", "/events")]
)
def test_someone_elses_or_bad_ids_are_404_like_missing(
    client, buyer, product, make_user, method, suffix
):
    _, headers = buyer
    theirs = add_session(make_user(), product, SessionStatus.READY)
    answers = [
        getattr(client, method)(f"/api/v1/vps/sessions/{sid}{suffix}", headers=headers)
        for sid in (theirs.id, uuid.uuid4(), "not-a-uuid", "1")
    ]
    assert {a.status_code for a in answers} == {404}
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].get_json()["error"] == "session_not_found"
    _db.session.expire_all()
    assert _db.session.get(VpsSession, theirs.id).status == SessionStatus.READY


def test_delete_answers_202_stopping(client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.READY)
    response = client.delete(f"/api/v1/vps/sessions/{session.id}", headers=headers)
    assert response.status_code == 202
    body = response.get_json()["session"]
    assert body["status"] in ("stopping", "deleted") and body["id"] == str(session.id)
    assert body["credentials"] is None


def test_delete_of_a_final_session_changes_nothing(client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.FAILED)
    response = client.delete(f"/api/v1/vps/sessions/{session.id}", headers=headers)
    assert response.status_code == 202
    assert response.get_json()["session"]["status"] == "failed"


# ----- log ------------------------------------------------------------------------------


def test_log_is_plain_text_from_the_node(client, buyer, sim_node, make_worker, make_product):
    user, headers = buyer
    product = make_product([make_worker(sim_node.url)])
    session = add_node_session(user, product)
    response = client.get(f"/api/v1/vps/sessions/{session.id}/log", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["X-Log-State"] == "live"
    assert "Starting VM" in response.get_data(as_text=True)


def test_log_masks_every_password_the_parser_reads(
    client, buyer, make_sim_node, make_worker, make_product
):
    user, headers = buyer
    node = make_sim_node(extra_log_lines=["rdp_password: Xk4-underscore", "RDPPassword: Xk4"])
    session = add_node_session(user, make_product([make_worker(node.url)]))
    text = client.get(f"/api/v1/vps/sessions/{session.id}/log", headers=headers).get_data(
        as_text=True
    )
    assert "Starting VM" in text
    for secret in ("Xk4-underscore", "Xk4", node.vm(session.worker_route)["password"]):
        assert secret not in text
    assert f"rdp_password: {PASSWORD_MASK}" in text and f"RDPPassword: {PASSWORD_MASK}" in text


def test_log_of_a_pending_session_is_empty(client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.PENDING)
    response = client.get(f"/api/v1/vps/sessions/{session.id}/log", headers=headers)
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["X-Log-State"] == "pending"


def test_log_unavailable_is_503_json(client, buyer, closed_port, make_worker, make_product):
    user, headers = buyer
    product = make_product([make_worker(f"http://127.0.0.1:{closed_port}")])
    session = add_session(
        user,
        product,
        SessionStatus.PROVISIONING,
        worker_id=product.workers[0].id,
        worker_route="quack_aaaaaa",
    )
    response = client.get(f"/api/v1/vps/sessions/{session.id}/log", headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"] == "log_unavailable"
    assert str(closed_port) not in response.get_data(as_text=True)


# ----- events ---------------------------------------------------------------------------


def test_events_of_a_final_session_send_one_event_and_close(client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.FAILED, error="boom")
    response = client.get(f"/api/v1/vps/sessions/{session.id}/events", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    events = parse_sse(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["status"]
    assert events[0][1]["session"]["status"] == "failed"
    assert set(events[0][1]["session"]) == SESSION_KEYS


@pytest.mark.parametrize("app_config", [{"EVENTS_MAX_SECONDS": 10}])
def test_events_follow_each_change_until_final(app, client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.PENDING)
    session_id = session.id

    def move(status: str) -> None:
        with app.app_context():
            row = _db.session.get(VpsSession, session_id)
            row.status = status
            _db.session.commit()
            _db.session.remove()

    def script() -> None:
        for status in ("provisioning", "failed"):
            time.sleep(0.4)
            move(status)

    thread = threading.Thread(target=script)
    thread.start()
    started = time.monotonic()
    response = client.get(f"/api/v1/vps/sessions/{session_id}/events", headers=headers)
    text = response.get_data(as_text=True)
    thread.join(5)
    statuses = [data["session"]["status"] for name, data in parse_sse(text) if name == "status"]
    assert statuses == ["pending", "provisioning", "failed"]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "app_config",
    [{"EVENTS_MAX_SECONDS": 0.5, "EVENTS_KEEPALIVE_SECONDS": 0.2}],
)
def test_events_close_after_the_time_limit(client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.PROVISIONING)
    started = time.monotonic()
    text = client.get(f"/api/v1/vps/sessions/{session.id}/events", headers=headers).get_data(
        as_text=True
    )
    assert time.monotonic() - started < 3
    assert [name for name, _ in parse_sse(text)] == ["status", "timeout"]
    assert ": keep-alive" in text


@pytest.mark.parametrize(
    "app_config", [{"EVENTS_MAX_SECONDS": 1.0, "EVENTS_KEEPALIVE_SECONDS": 0.1}]
)
def test_an_idle_event_stream_asks_the_database_nothing(app, client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.PROVISIONING)
    response = client.get(f"/api/v1/vps/sessions/{session.id}/events", headers=headers)
    with sql_statements() as statements:
        # The client took the first event (the one read) when the stream opened; the rest
        # of the stream runs here, for a second with nothing changing.
        text = response.get_data(as_text=True)
    assert [name for name, _ in parse_sse(text)] == ["status", "timeout"]
    assert text.count(": keep-alive") >= 3
    assert statements == []


@pytest.mark.parametrize("app_config", [{"EVENTS_MAX_STREAMS": 1, "EVENTS_MAX_SECONDS": 5}])
def test_event_streams_past_the_bound_get_503_with_retry_after(client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.PROVISIONING)
    url = f"/api/v1/vps/sessions/{session.id}/events"
    first = client.get(url, headers=headers, buffered=False)
    try:
        assert first.status_code == 200
        second = client.get(url, headers=headers)
        assert second.status_code == 503
        assert second.get_json()["error"] == "too_many_streams"
        assert int(second.headers["Retry-After"]) > 0
    finally:
        first.close()  # ends the stream and frees its slot
    final = add_session(user, product, SessionStatus.FAILED)
    again = client.get(f"/api/v1/vps/sessions/{final.id}/events", headers=headers)
    assert again.status_code == 200


@pytest.mark.parametrize(
    "app_config", [{"EVENTS_MAX_SECONDS": 1.0, "EVENTS_KEEPALIVE_SECONDS": 0.05}]
)
def test_events_hold_no_database_connection_between_polls(app, client, buyer, product):
    user, headers = buyer
    session = add_session(user, product, SessionStatus.PROVISIONING)
    url = f"/api/v1/vps/sessions/{session.id}/events"
    checked_out: list[int] = []
    done = threading.Event()
    pool = _db.engine.pool

    def watch_pool() -> None:
        while not done.is_set():
            checked_out.append(pool.checkedout())
            time.sleep(0.01)

    _db.session.remove()  # the test's own session holds nothing either
    sampler = threading.Thread(target=watch_pool)
    sampler.start()
    try:
        client.get(url, headers=headers).get_data()
    finally:
        done.set()
        sampler.join(5)
    # While the stream sleeps between polls, no connection is checked out.
    assert checked_out and checked_out.count(0) > len(checked_out) / 2


# ----- the whole flow, scanned for the node's address and token ---------------------------


@pytest.mark.parametrize("app_config", [FAST_JOBS])
def test_full_flow_never_shows_the_node(
    app, client, login, make_user, api_token, make_sim_node, make_worker, make_product, run_jobs
):
    node_token = "node-token-" + uuid.uuid4().hex
    node = make_sim_node(token=node_token, extra_log_lines=["<script>alert(1)</script>"])
    product = make_product([make_worker(node.url, token=node_token)], action=2)
    user = make_user(coins=50)
    headers = bearer(api_token(user))
    forbidden = [node.url, f"127.0.0.1:{node.port}", f":{node.port}", node_token]
    responses = []

    def keep(response):
        responses.append(response)
        return response

    keep(client.get("/api/v1/vps/products", headers=headers))
    created = keep(
        client.post(
            "/api/v1/vps/purchase-and-create",
            json={"product_id": str(product.id)},
            headers={**headers, "Idempotency-Key": "scan-1"},
        )
    )
    session_id = created.get_json()["session"]["id"]

    def status() -> str:
        _db.session.expire_all()
        return _db.session.get(VpsSession, uuid.UUID(session_id)).status

    assert run_jobs(until=lambda: status() == SessionStatus.READY, timeout=20)
    detail = keep(client.get(f"/api/v1/vps/sessions/{session_id}", headers=headers))
    assert detail.get_json()["session"]["credentials"]["password"]
    keep(client.get("/api/v1/vps/sessions", headers=headers))
    log = keep(client.get(f"/api/v1/vps/sessions/{session_id}/log", headers=headers))
    assert "<script>alert(1)</script>" in log.get_data(as_text=True)  # text/plain, verbatim
    login(user)
    for path in (
        "/",
        "/vps/sessions",
        f"/vps/sessions/{session_id}",
        f"/vps/sessions/{session_id}/status",
        f"/vps/sessions/{session_id}/log",
        f"/vps/sessions/{session_id}/connection.rdp",
    ):
        assert keep(client.get(path)).status_code == 200, path
    page = responses[-4].get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    keep(client.get(f"/vps/sessions/{session_id}/delete"))
    keep(client.delete(f"/api/v1/vps/sessions/{session_id}", headers=headers))
    assert run_jobs(until=lambda: status() == SessionStatus.DELETED, timeout=20)
    keep(client.get(f"/api/v1/vps/sessions/{session_id}/events", headers=headers))
    keep(client.get(f"/api/v1/vps/sessions/{session_id}/log", headers=headers))
    keep(client.get(f"/vps/sessions/{session_id}"))
    node.set_fault("log", "500")
    keep(client.get(f"/api/v1/vps/sessions/{session_id}/log", headers=headers))

    for response in responses:
        blob = (
            response.get_data(as_text=True)
            + "\n"
            + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        )
        for secret in forbidden:
            assert secret not in blob, (response.request.path, secret)
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 45  # a ready session is never refunded
    assert_ledger_invariant()
    assert (
        _db.session.execute(
            select(func.count(CoinTransaction.id)).where(CoinTransaction.kind == "purchase")
        ).scalar_one()
        == 1
    )


def test_purchase_from_the_page_and_api_use_separate_keys(client, login, buyer, product):
    """A form key never collides with an API key of the same text."""
    user, headers = buyer
    login(user)
    html = client.get(f"/buy/{product.id}").get_data(as_text=True)
    key = html.split('name="purchase_key" type="hidden" value="')[1].split('"')[0]
    client.post(
        f"/buy/{product.id}", data={"csrf_token": csrf_token_from(html), "purchase_key": key}
    )
    response = client.post(
        "/api/v1/vps/purchase-and-create",
        json={"product_id": str(product.id)},
        headers={**headers, "Idempotency-Key": key},
    )
    assert response.status_code == 202
    assert _db.session.execute(select(func.count(VpsSession.id))).scalar_one() == 2
