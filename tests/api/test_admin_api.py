"""The admin JSON API: access, shapes of DESIGN.md, 400s for bad values, no token leaks."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.admin.recording_node import RecordingNode
from tests.helpers import assert_ledger_invariant
from vpsshop.models import AuditEntry, CoinTransaction, User, VpsProduct, Worker, WorkerStatus
from vpsshop.services import vouchers
from vpsshop.services import workers as worker_service

NODE_TOKEN = "api-node-token-s3cr3t-Yx77"


@pytest.fixture
def recording_node() -> Iterator[RecordingNode]:
    node = RecordingNode()
    node.thread.start()
    yield node
    node.server.shutdown()
    node.server.server_close()


@pytest.fixture
def admin(make_user) -> User:
    return make_user("root@example.com", admin=True)


@pytest.fixture
def api(client, api_token, admin):
    """``api(method, url, json=..., as_=user)``: an API call with a Bearer token."""
    tokens: dict[uuid.UUID, str] = {}

    def call(method: str, url: str, *, as_: User | None = admin, **kwargs):
        headers = kwargs.pop("headers", {})
        if as_ is not None:
            if as_.id not in tokens:
                tokens[as_.id] = api_token(as_)
            headers["Authorization"] = f"Bearer {tokens[as_.id]}"
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


def _routes(app) -> list[tuple[str, str]]:
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/admin")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def _fill(rule: str, ids: dict[str, str]) -> str:
    return (
        rule.replace("<uuid:user_id>", ids["user"])
        .replace("<uuid:worker_id>", ids["worker"])
        .replace("<uuid:product_id>", ids["product"])
        .replace("<uuid:voucher_id>", ids["voucher"])
    )


def test_access_matrix_for_every_admin_route(app, api, db, make_user, make_worker, make_product):
    customer = make_user("cust@example.com", coins=3)
    worker = make_worker()
    product = make_product([worker])
    (voucher,) = vouchers.create_vouchers(coins=5, actor_id=None)
    db.session.commit()
    ids = {
        "user": str(customer.id),
        "worker": str(worker.id),
        "product": str(product.id),
        "voucher": str(voucher.id),
    }
    routes = _routes(app)
    assert len(routes) == 18  # coin packs, suspension and vouchers included
    for method, rule in routes:
        url = _fill(rule, ids)
        assert api(method, url, as_=None, json={}).status_code == 401, (method, rule)
        assert api(method, url, as_=customer, json={}).status_code == 403, (method, rule)
        response = api(method, url, json={})
        assert response.status_code not in (401, 403), (method, rule)
        assert response.status_code < 500 or rule.endswith("/login"), (method, rule)
        assert response.is_json


def test_list_users_by_email(api, make_user):
    make_user("alice@example.com", coins=7)
    make_user("bob@example.com")
    body = api("GET", "/api/v1/admin/users?email=ALICE").get_json()
    assert [u["email"] for u in body["users"]] == ["alice@example.com"]
    user = body["users"][0]
    assert set(user) == {
        "id",
        "email",
        "coins",
        "is_admin",
        "created_at",
        "suspended",
        "suspended_reason",
        "two_factor",
    }
    assert user["coins"] == 7 and user["is_admin"] is False
    everyone = api("GET", "/api/v1/admin/users").get_json()["users"]
    assert len(everyone) == 3
    assert api("GET", "/api/v1/admin/users?email=%25").get_json()["users"] == []


def test_adjust_coins_shapes_and_ledger(api, db, make_user, admin):
    customer = make_user(coins=10)
    url = f"/api/v1/admin/users/{customer.id}/coins"
    response = api("PATCH", url, json={"op": "add", "amount": 5, "reason": "bonus"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"] == {"id": str(customer.id), "coins": 15}
    tx = body["transaction"]
    assert (tx["delta"], tx["balance_after"], tx["kind"], tx["reason"]) == (
        5,
        15,
        "admin_add",
        "bonus",
    )
    assert tx["actor_id"] == str(admin.id) and tx["user_id"] == str(customer.id)
    assert (
        api("PATCH", url, json={"op": "sub", "amount": 15, "reason": "x"}).get_json()["user"][
            "coins"
        ]
        == 0
    )
    assert (
        api("PATCH", url, json={"op": "set", "amount": 4, "reason": "x"}).get_json()["transaction"][
            "delta"
        ]
        == 4
    )
    assert_ledger_invariant()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"op": "mul", "amount": 1, "reason": "x"}, 400, "invalid_op"),
        ({"op": ["add"], "amount": 1, "reason": "x"}, 400, "invalid_op"),
        ({"op": "add", "amount": -1, "reason": "x"}, 400, "invalid_amount"),
        ({"op": "add", "amount": 1.5, "reason": "x"}, 400, "invalid_amount"),
        ({"op": "add", "amount": "3", "reason": "x"}, 400, "invalid_amount"),
        ({"op": "add", "amount": True, "reason": "x"}, 400, "invalid_amount"),
        ({"op": "add", "amount": 1, "reason": " "}, 400, "reason_required"),
        ({"op": "add", "amount": 1}, 400, "reason_required"),
        ({"op": "sub", "amount": 99, "reason": "x"}, 402, "insufficient_coins"),
        ({"op": "add", "amount": 1, "reason": "x", "extra": 1}, 400, "unknown_field"),
    ],
)
def test_adjust_coins_refusals_change_nothing(api, db, make_user, body, status, code):
    customer = make_user(coins=2)
    response = api("PATCH", f"/api/v1/admin/users/{customer.id}/coins", json=body)
    assert response.status_code == status
    assert response.get_json()["error"] == code
    db.session.expire_all()
    assert db.session.get(User, customer.id).coins == 2
    assert_ledger_invariant()


def test_unknown_or_malformed_user_id_is_a_404(api):
    body = {"op": "add", "amount": 1, "reason": "x"}
    assert api("PATCH", f"/api/v1/admin/users/{uuid.uuid4()}/coins", json=body).status_code == 404
    assert api("PATCH", "/api/v1/admin/users/not-a-uuid/coins", json=body).status_code == 404


def test_bad_json_is_a_400(api, make_user):
    customer = make_user()
    response = api(
        "PATCH",
        f"/api/v1/admin/users/{customer.id}/coins",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_json"
    response = api("POST", "/api/v1/admin/products", json=[1, 2])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_json"


def test_register_list_update_disable_enable_workers(api, db, admin, make_user):
    response = api(
        "POST",
        "/api/v1/admin/workers/register",
        json={
            "name": "n1",
            "base_url": "http://10.1.2.3:4000/",
            "max_sessions": 2,
            "token": NODE_TOKEN,
        },
    )
    assert response.status_code == 201, response.get_json()
    worker = response.get_json()["worker"]
    assert worker["base_url"] == "http://10.1.2.3:4000"
    assert worker["has_token"] is True and worker["active_sessions"] == 0
    assert worker["status"] == "active" and worker["healthy"] is True
    worker_id = worker["id"]

    listed = api("GET", "/api/v1/admin/workers").get_json()["workers"]
    assert [w["id"] for w in listed] == [worker_id]
    assert {"id", "name", "base_url", "status", "max_sessions", "active_sessions"} <= set(listed[0])

    patched = api(
        "PATCH", f"/api/v1/admin/workers/{worker_id}", json={"max_sessions": 5, "token": ""}
    ).get_json()["worker"]
    assert patched["max_sessions"] == 5 and patched["has_token"] is False
    disabled = api("POST", f"/api/v1/admin/workers/{worker_id}/disable").get_json()["worker"]
    assert disabled["status"] == "disabled"
    enabled = api("POST", f"/api/v1/admin/workers/{worker_id}/enable").get_json()["worker"]
    assert enabled["status"] == "active"
    actions = (
        db.session.execute(
            select(AuditEntry.action).where(AuditEntry.actor_id == admin.id).order_by(AuditEntry.id)
        )
        .scalars()
        .all()
    )
    assert actions == ["worker.register", "worker.update", "worker.disable", "worker.enable"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "base_url": "ftp://host"}, 400),
        ({"name": "x", "base_url": "http://user:pw@host"}, 400),
        ({"name": "x", "base_url": "not a url"}, 400),
        ({"name": "", "base_url": "http://host"}, 400),
        ({"name": "x", "base_url": "http://host", "max_sessions": 0}, 400),
        ({"name": "x", "base_url": "http://host", "max_sessions": "3"}, 400),
        ({"name": "x", "base_url": "http://host", "colour": "red"}, 400),
    ],
)
def test_register_refuses_bad_values(api, db, body, status):
    response = api("POST", "/api/v1/admin/workers/register", json=body)
    assert response.status_code == status, response.get_json()
    assert db.session.execute(select(Worker)).first() is None


def test_worker_update_refusals_and_unknown_ids(api, db, make_worker):
    worker = make_worker()
    url = f"/api/v1/admin/workers/{worker.id}"
    assert api("PATCH", url, json={"base_url": "javascript:alert(1)"}).status_code == 400
    assert api("PATCH", url, json={"status": "exploded"}).status_code == 400
    assert api("PATCH", url, json={"nope": 1}).status_code == 400
    db.session.expire_all()
    assert worker.base_url == "http://127.0.0.1:9"
    missing = uuid.uuid4()
    for method, path in [
        ("PATCH", f"/api/v1/admin/workers/{missing}"),
        ("POST", f"/api/v1/admin/workers/{missing}/disable"),
        ("POST", f"/api/v1/admin/workers/{missing}/enable"),
        ("POST", f"/api/v1/admin/workers/{missing}/login"),
        ("PATCH", f"/api/v1/admin/products/{missing}"),
        ("PATCH", f"/api/v1/admin/users/{missing}/coins"),
    ]:
        assert api(method, path, json={}).status_code == 404, path


def test_token_never_leaves_through_the_api(api, make_worker):
    worker = make_worker(token=NODE_TOKEN)
    bodies = [
        api("GET", "/api/v1/admin/workers"),
        api("PATCH", f"/api/v1/admin/workers/{worker.id}", json={"max_sessions": 4}),
        api("POST", f"/api/v1/admin/workers/{worker.id}/disable"),
        api("POST", f"/api/v1/admin/workers/{worker.id}/enable"),
        api(
            "POST",
            "/api/v1/admin/workers/register",
            json={"name": "t2", "base_url": "http://127.0.0.1:7", "token": NODE_TOKEN},
        ),
        api("GET", "/api/v1/admin/products"),
    ]
    for response in bodies:
        text = response.get_data(as_text=True)
        assert NODE_TOKEN not in text
        assert worker.token_encrypted not in text
        assert "token_encrypted" not in text


def test_worker_login_forwards_and_keeps_nothing(api, db, make_worker, recording_node, caplog):
    caplog.set_level(logging.DEBUG)
    worker = make_worker(recording_node.url)
    recording_node.login_body = {"status": "token added"}
    email, password = "cloud-ops@example.org", "Sup3r-Secret-Cloud"
    response = api(
        "POST",
        f"/api/v1/admin/workers/{worker.id}/login",
        json={"email": email, "password": password},
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": True,
        "node_status": 200,
        "answer": {"status": "token added"},
    }
    assert recording_node.logins() == [{"email": email, "password": password}]
    stored = json.dumps([repr(row) for row in db.session.execute(select(AuditEntry)).all()])
    assert email not in stored and password not in stored
    assert email not in caplog.text and password not in caplog.text

    recording_node.login_status = 422
    recording_node.login_body = {"error": "bad credentials"}
    refused = api(
        "POST",
        f"/api/v1/admin/workers/{worker.id}/login",
        json={"email": email, "password": password},
    ).get_json()
    assert refused == {"ok": False, "node_status": 422, "answer": {"error": "bad credentials"}}
    for body in (
        {"email": "x"},
        {"email": "nope", "password": "p"},
        {"password": "p"},
        {"email": email, "password": ""},
    ):
        response = api("POST", f"/api/v1/admin/workers/{worker.id}/login", json=body)
        assert response.status_code == 400, body
    assert len(recording_node.logins()) == 2


def test_worker_login_to_a_dead_node_is_a_502(api, make_worker):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    worker = make_worker(f"http://127.0.0.1:{port}")
    response = api(
        "POST",
        f"/api/v1/admin/workers/{worker.id}/login",
        json={"email": "a@b.example", "password": "pw"},
    )
    assert response.status_code == 502
    assert response.get_json()["error"] == "node_unreachable"


def test_products_create_list_update(api, db, make_worker, admin):
    first, second = make_worker(), make_worker()
    body = {
        "name": "Win",
        "price_coins": 9,
        "provision_action": 2,
        "duration_minutes": 30,
        "is_active": True,
        "worker_ids": [str(first.id)],
    }
    response = api("POST", "/api/v1/admin/products", json=body)
    assert response.status_code == 201, response.get_json()
    product = response.get_json()["product"]
    assert {key: product[key] for key in body} == body
    assert product["available"] is True
    listed = api("GET", "/api/v1/admin/products").get_json()["products"]
    assert [p["id"] for p in listed] == [product["id"]]
    patched = api(
        "PATCH",
        f"/api/v1/admin/products/{product['id']}",
        json={"price_coins": 11, "worker_ids": [str(second.id), str(first.id)], "is_active": False},
    ).get_json()["product"]
    assert patched["price_coins"] == 11 and patched["is_active"] is False
    assert sorted(patched["worker_ids"]) == sorted([str(first.id), str(second.id)])
    assert patched["name"] == "Win"
    actions = db.session.execute(select(AuditEntry.action)).scalars().all()
    assert sorted(actions) == ["product.create", "product.update"]


@pytest.mark.parametrize(
    "change",
    [
        {"price_coins": 0},
        {"price_coins": -5},
        {"price_coins": 2.5},
        {"price_coins": True},
        {"provision_action": 0},
        {"provision_action": 4},
        {"provision_action": "1"},
        {"duration_minutes": 0},
        {"is_active": "yes"},
        {"name": ""},
        {"worker_ids": [str(uuid.uuid4())]},
        {"worker_ids": ["not-a-uuid"]},
        {"worker_ids": [1]},
        {"worker_ids": "all"},
        {"colour": "red"},
    ],
)
def test_product_validation(api, db, make_worker, change):
    worker = make_worker()
    body = {"name": "P", "price_coins": 3, "provision_action": 1, "worker_ids": [str(worker.id)]}
    response = api("POST", "/api/v1/admin/products", json={**body, **change})
    assert response.status_code == 400, (change, response.get_json())
    assert db.session.execute(select(VpsProduct)).first() is None
    created = api("POST", "/api/v1/admin/products", json=body).get_json()["product"]
    response = api("PATCH", f"/api/v1/admin/products/{created['id']}", json=change)
    assert response.status_code == 400, change
    db.session.expire_all()
    product = db.session.get(VpsProduct, uuid.UUID(created["id"]))
    assert (product.name, product.price_coins, product.provision_action) == ("P", 3, 1)
    assert [w.id for w in product.workers] == [worker.id]


def test_availability_follows_the_workers(api, db, make_worker):
    worker = make_worker(max_sessions=1)
    product = api(
        "POST",
        "/api/v1/admin/products",
        json={"name": "A", "price_coins": 1, "provision_action": 3, "worker_ids": [str(worker.id)]},
    ).get_json()["product"]
    assert product["available"] is True
    api("POST", f"/api/v1/admin/workers/{worker.id}/disable")
    listed = api("GET", "/api/v1/admin/products").get_json()["products"]
    assert listed[0]["available"] is False
    db.session.expire_all()
    assert db.session.get(Worker, worker.id).status == WorkerStatus.DISABLED
    assert (
        worker_service.product_available(db.session.get(VpsProduct, uuid.UUID(product["id"])))
        is False
    )
    assert db.session.execute(select(CoinTransaction)).first() is None
