"""Products and users views: validated product forms, coin adjustments through the ledger."""

from __future__ import annotations

from sqlalchemy import select

from tests.helpers import assert_ledger_invariant
from vpsshop.models import AuditEntry, CoinTransaction, User, VpsProduct


def _product(db, name: str) -> VpsProduct | None:
    db.session.expire_all()
    return db.session.execute(
        select(VpsProduct).where(VpsProduct.name == name)
    ).scalar_one_or_none()


def test_create_product_with_workers(admin_client, db, make_worker, admin):
    first, second = make_worker(), make_worker()
    response = admin_client.post(
        "/admin/products/new/",
        {
            "name": "Win 1h",
            "price_coins": 7,
            "provision_action": 2,
            "duration_minutes": 60,
            "is_active": "y",
            "workers": [str(first.id), str(second.id)],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    product = _product(db, "Win 1h")
    assert (product.price_coins, product.provision_action, product.duration_minutes) == (7, 2, 60)
    assert product.is_active
    assert {w.id for w in product.workers} == {first.id, second.id}
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.actor_id) == ("product.create", admin.id)
    listing = admin_client.get("/admin/products/").get_data(as_text=True)
    assert "Windows" in listing and first.name in listing and "available" in listing


def test_product_validation_is_inline_and_creates_nothing(admin_client, db):
    for data, message in [
        ({"name": "Zero", "price_coins": 0, "provision_action": 1}, "price_coins must be"),
        ({"name": "Neg", "price_coins": -3, "provision_action": 1}, "price_coins must be"),
        ({"name": "Act", "price_coins": 3, "provision_action": 4}, "Not a valid choice"),
        (
            {"name": "Dur", "price_coins": 3, "provision_action": 1, "duration_minutes": 0},
            "duration_minutes must be",
        ),
    ]:
        response = admin_client.post("/admin/products/new/", data)
        assert response.status_code == 200, data
        assert message in response.get_data(as_text=True), data
    assert db.session.execute(select(VpsProduct)).first() is None


def test_edit_product_changes_workers_and_is_audited(admin_client, db, make_worker, make_product):
    old, new = make_worker(), make_worker()
    product = make_product([old], name="Linux", action=1, price=3)
    response = admin_client.post(
        f"/admin/products/edit/?id={product.id}",
        {
            "name": "Linux",
            "price_coins": 4,
            "provision_action": 1,
            "is_active": "y",
            "workers": [str(new.id)],
        },
    )
    assert response.status_code == 302
    product = _product(db, "Linux")
    assert product.price_coins == 4
    assert [w.id for w in product.workers] == [new.id]
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    assert entry.action == "product.update" and "price_coins" in entry.details
    edit = admin_client.get(f"/admin/products/edit/?id={product.id}").get_data(as_text=True)
    assert "Windows" in edit and "Test" in edit  # the action select shows names


def test_users_list_is_read_only_with_coins(admin_client, make_user):
    customer = make_user("rich@example.com", coins=42)
    body = admin_client.get("/admin/users/").get_data(as_text=True)
    assert "rich@example.com" in body and "42" in body
    assert "Adjust coins" in body
    assert admin_client.get("/admin/users/new/").status_code == 302  # no create
    assert admin_client.get(f"/admin/users/edit/?id={customer.id}").status_code == 302


def test_adjust_coins_add_sub_set_write_the_ledger(admin_client, db, make_user, admin):
    customer = make_user("c@example.com", coins=10)
    url = f"/admin/users/coins/?id={customer.id}"
    assert "10" in admin_client.get(url).get_data(as_text=True)
    for op, amount, expected in [("add", 5, 15), ("sub", 3, 12), ("set", 100, 100)]:
        response = admin_client.post(url, {"op": op, "amount": amount, "reason": f"{op} test"})
        assert response.status_code == 302, response.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(User, customer.id).coins == expected
    rows = db.session.execute(
        select(CoinTransaction.kind, CoinTransaction.delta, CoinTransaction.actor_id)
        .where(CoinTransaction.actor_id == admin.id)
        .order_by(CoinTransaction.id)
    ).all()
    assert rows == [
        ("admin_add", 5, admin.id),
        ("admin_sub", -3, admin.id),
        ("admin_set", 88, admin.id),
    ]
    assert_ledger_invariant()


def test_adjust_coins_refusals_are_inline_and_change_nothing(admin_client, db, make_user):
    customer = make_user("poor@example.com", coins=2)
    url = f"/admin/users/coins/?id={customer.id}"
    cases = [
        ({"op": "sub", "amount": 5, "reason": "too much"}, 402, "Not enough coins"),
        ({"op": "add", "amount": -5, "reason": "negative"}, 400, "between 0"),
        ({"op": "add", "amount": "1.5", "reason": "fraction"}, 400, "Not a valid integer"),
        ({"op": "add", "amount": 1, "reason": ""}, 400, "This field is required"),
        ({"op": "steal", "amount": 1, "reason": "x"}, 400, "Not a valid choice"),
    ]
    for data, status, message in cases:
        response = admin_client.post(url, data)
        assert response.status_code == status, data
        assert message in response.get_data(as_text=True), data
    db.session.expire_all()
    assert db.session.get(User, customer.id).coins == 2
    assert len(db.session.execute(select(CoinTransaction)).all()) == 1
    assert_ledger_invariant()
    assert admin_client.get("/admin/users/coins/?id=unknown").status_code == 404
