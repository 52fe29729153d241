"""The API of vouchers and coin history: redeem, /me/transactions, the admin vouchers."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.helpers import assert_ledger_invariant
from vpsshop.models import AuditEntry, Voucher
from vpsshop.services import ledger, vouchers

TRANSACTION_FIELDS = {"id", "delta", "balance_after", "kind", "reason", "session_id", "created_at"}
VOUCHER_FIELDS = {"id", "code", "coins", "max_redemptions", "redemptions", "expires_at"}
VOUCHER_FIELDS |= {"is_active", "note", "batch_id", "created_at"}


@pytest.fixture
def as_user(client, make_user, api_token):
    def call(user, method, url, **kwargs):
        headers = {"Authorization": f"Bearer {api_token(user)}"}
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


def _voucher(db, **fields) -> Voucher:
    (voucher,) = vouchers.create_vouchers(actor_id=None, **{"coins": 15, **fields})
    db.session.commit()
    return voucher


def test_redeem_answers_the_balance_and_the_ledger_row(db, as_user, make_user):
    user = make_user(coins=5)
    voucher = _voucher(db)
    response = as_user(
        user, "POST", "/api/v1/vouchers/redeem", json={"code": f" {voucher.code.lower()} "}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["coins"] == 20
    assert set(body["transaction"]) == TRANSACTION_FIELDS
    assert body["transaction"]["kind"] == "voucher" and body["transaction"]["delta"] == 15
    assert_ledger_invariant()


def test_every_refusal_has_its_code_and_status(db, as_user, make_user):
    user, other = make_user(), make_user()
    single = _voucher(db)
    gone = _voucher(db)
    vouchers.deactivate(gone, actor_id=None)
    db.session.commit()

    def redeem(who, body):
        return as_user(who, "POST", "/api/v1/vouchers/redeem", json=body)

    assert redeem(user, {"code": single.code}).status_code == 200
    cases = [
        (user, {"code": single.code}, 409, "voucher_already_redeemed"),
        (other, {"code": single.code}, 409, "voucher_used_up"),
        (other, {"code": gone.code}, 404, "voucher_not_found"),
        (other, {"code": "NOPE-NOPE-NOPE"}, 404, "voucher_not_found"),
        (other, {"code": ""}, 400, "invalid_code"),
        (other, {}, 400, "invalid_code"),
        (other, {"code": 5}, 400, "invalid_code"),
        (other, {"code": single.code, "extra": 1}, 400, "unknown_field"),
        (other, ["code"], 400, "invalid_json"),
    ]
    for who, body, status, code in cases:
        response = redeem(who, body)
        assert (response.status_code, response.get_json()["error"]) == (status, code), body
        assert isinstance(response.get_json()["message"], str)
    assert_ledger_invariant()


def test_ten_failures_an_hour_then_429_with_retry_after(db, as_user, make_user):
    user = make_user()
    voucher = _voucher(db)
    for _ in range(10):
        response = as_user(
            user, "POST", "/api/v1/vouchers/redeem", json={"code": "WRONG-0000-CODE"}
        )
        assert response.status_code == 404
    response = as_user(user, "POST", "/api/v1/vouchers/redeem", json={"code": voucher.code})
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    assert 3500 <= int(response.headers["Retry-After"]) <= 3600


def test_redeem_needs_a_token(client):
    response = client.post("/api/v1/vouchers/redeem", json={"code": "ABCD-EFGH-JKMN"})
    assert response.status_code == 401


def test_my_transactions_newest_first_by_keyset(db, as_user, make_user):
    user, _other = make_user(), make_user(coins=99)
    for amount in range(1, 8):
        ledger.add(user.id, amount, reason=f"grant {amount}")
    db.session.commit()
    first = as_user(user, "GET", "/api/v1/me/transactions?limit=3").get_json()["transactions"]
    assert [row["delta"] for row in first] == [7, 6, 5]
    assert set(first[0]) == TRANSACTION_FIELDS
    url = f"/api/v1/me/transactions?limit=3&before={first[-1]['id']}"
    second = as_user(user, "GET", url).get_json()["transactions"]
    assert [row["delta"] for row in second] == [4, 3, 2]
    everything = as_user(user, "GET", "/api/v1/me/transactions").get_json()["transactions"]
    assert len(everything) == 7  # never someone else's rows
    assert [row["balance_after"] for row in everything] == [28, 21, 15, 10, 6, 3, 1]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=abc", "invalid_limit"),
        ("limit=-1", "invalid_limit"),
        ("limit=１", "invalid_limit"),
        ("before=0", "invalid_before"),
        ("before=x", "invalid_before"),
        ("before=99999999999999999999999", "invalid_before"),
    ],
)
def test_bad_paging_is_a_400(as_user, make_user, query, code):
    response = as_user(make_user(), "GET", f"/api/v1/me/transactions?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == code


def test_admin_creates_one_or_a_batch(db, as_user, make_user):
    admin = make_user(admin=True)
    one = as_user(
        admin,
        "POST",
        "/api/v1/admin/vouchers",
        json={"coins": 50, "code": "launch-day", "expires_at": "2099-01-01T00:00:00Z"},
    )
    assert one.status_code == 201, one.get_json()
    (voucher,) = one.get_json()["vouchers"]
    assert set(voucher) == VOUCHER_FIELDS
    assert (voucher["code"], voucher["coins"], voucher["max_redemptions"]) == ("LAUNCH-DAY", 50, 1)
    assert voucher["expires_at"] == "2099-01-01T00:00:00+00:00" and voucher["is_active"] is True
    batch = as_user(
        admin,
        "POST",
        "/api/v1/admin/vouchers",
        json={"coins": 5, "count": 20, "max_redemptions": 3, "note": "stickers"},
    )
    assert batch.status_code == 201
    codes = [v["code"] for v in batch.get_json()["vouchers"]]
    assert len(set(codes)) == 20
    taken = as_user(
        admin, "POST", "/api/v1/admin/vouchers", json={"coins": 5, "code": "LAUNCH-DAY"}
    )
    assert (taken.status_code, taken.get_json()["error"]) == (409, "voucher_code_taken")
    actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
    assert list(actions) == ["voucher.create", "voucher.create_batch"]


def test_admin_lists_looks_at_and_deactivates(db, as_user, make_user):
    admin, buyer = make_user(admin=True), make_user()
    voucher = _voucher(db, max_redemptions=2)
    vouchers.redeem(buyer.id, voucher.code)
    db.session.commit()
    listed = as_user(admin, "GET", f"/api/v1/admin/vouchers?code={voucher.code.lower()}")
    assert [v["id"] for v in listed.get_json()["vouchers"]] == [str(voucher.id)]
    by_batch = as_user(admin, "GET", f"/api/v1/admin/vouchers?batch_id={voucher.batch_id}")
    assert len(by_batch.get_json()["vouchers"]) == 1
    bad = as_user(admin, "GET", "/api/v1/admin/vouchers?batch_id=nope")
    assert bad.get_json()["error"] == "invalid_batch_id"
    one = as_user(admin, "GET", f"/api/v1/admin/vouchers/{voucher.id}").get_json()
    assert one["voucher"]["redemptions"] == 1
    assert [(r["email"], r["user_id"]) for r in one["redemptions"]] == [
        (buyer.email, str(buyer.id))
    ]
    off = as_user(admin, "POST", f"/api/v1/admin/vouchers/{voucher.id}/deactivate")
    assert off.status_code == 200 and off.get_json()["voucher"]["is_active"] is False
    again = as_user(admin, "POST", f"/api/v1/admin/vouchers/{voucher.id}/deactivate")
    assert again.status_code == 200
    refused = as_user(make_user(), "POST", "/api/v1/vouchers/redeem", json={"code": voucher.code})
    assert refused.get_json()["error"] == "voucher_not_found"
    deactivations = (
        db.session.execute(select(AuditEntry).where(AuditEntry.action == "voucher.deactivate"))
        .scalars()
        .all()
    )
    assert [(e.actor_id, e.target_id) for e in deactivations] == [(admin.id, str(voucher.id))]


def test_admin_voucher_routes_are_admin_only(as_user, make_user, db):
    voucher = _voucher(db)
    buyer = make_user()
    for method, url in [
        ("POST", "/api/v1/admin/vouchers"),
        ("GET", "/api/v1/admin/vouchers"),
        ("GET", f"/api/v1/admin/vouchers/{voucher.id}"),
        ("POST", f"/api/v1/admin/vouchers/{voucher.id}/deactivate"),
    ]:
        assert as_user(buyer, method, url, data=json.dumps({"coins": 1})).status_code == 403
