"""POST /api/v1/admin/coin-packs: validated, admins only, audited."""

from __future__ import annotations

from sqlalchemy import select

from vpsshop.models import AuditEntry, CoinPack


def test_an_admin_creates_a_coin_pack(client, db, make_user, api_token):
    admin = make_user(admin=True)
    headers = {"Authorization": f"Bearer {api_token(admin)}"}
    body = {"name": "Regular", "coins": 120, "price_minor": 1000, "currency": "EUR"}
    response = client.post("/api/v1/admin/coin-packs", json=body, headers=headers)
    assert response.status_code == 201
    pack = response.get_json()["pack"]
    assert {k: pack[k] for k in ("name", "coins", "price_minor", "currency", "is_active")} == {
        "name": "Regular",
        "coins": 120,
        "price_minor": 1000,
        "currency": "eur",
        "is_active": True,
    }
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.actor_id, entry.target_id) == (
        "coin_pack.create",
        admin.id,
        pack["id"],
    )


def test_bad_coin_packs_are_refused(client, db, make_user, api_token):
    headers = {"Authorization": f"Bearer {api_token(make_user(admin=True))}"}
    good = {"name": "P", "coins": 1, "price_minor": 100, "currency": "eur"}
    cases = [
        ({**good, "coins": 0}, "invalid_coins"),
        ({**good, "coins": True}, "invalid_coins"),
        ({**good, "price_minor": -5}, "invalid_price_minor"),
        ({**good, "currency": "euro"}, "invalid_currency"),
        ({**good, "name": " "}, "invalid_name"),
        ({**good, "is_active": "yes"}, "invalid_is_active"),
        ({**good, "colour": "red"}, "unknown_field"),
        ({"name": "P"}, "invalid_coins"),
    ]
    for body, code in cases:
        response = client.post("/api/v1/admin/coin-packs", json=body, headers=headers)
        assert (response.status_code, response.get_json()["error"]) == (400, code), body
    assert db.session.execute(select(CoinPack)).first() is None


def test_only_admins_create_coin_packs(client, make_user, api_token):
    headers = {"Authorization": f"Bearer {api_token(make_user())}"}
    body = {"name": "P", "coins": 1, "price_minor": 100, "currency": "eur"}
    assert client.post("/api/v1/admin/coin-packs", json=body, headers=headers).status_code == 403
    assert client.post("/api/v1/admin/coin-packs", json=body).status_code == 401
