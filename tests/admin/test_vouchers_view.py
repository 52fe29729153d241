"""The admin vouchers: create one or a batch, refusals inline, deactivate, redemptions,
CSV of one batch, and the audit trail of every change."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import func, select

from vpsshop.models import AuditEntry, Voucher
from vpsshop.services import vouchers


def _count(db, model) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_the_list_and_the_create_form_are_admin_only(client, user_client):
    assert user_client.get("/admin/vouchers/").status_code == 403
    assert user_client.get("/admin/vouchers/new/").status_code == 403
    assert user_client.post("/admin/vouchers/new/", {"coins": 5, "count": 1}).status_code == 403


def test_create_a_batch_lands_on_that_batch(db, admin_client):
    older = vouchers.create_vouchers(coins=1, actor_id=None)
    db.session.commit()
    form = admin_client.get("/admin/vouchers/new/")
    assert form.status_code == 200 and "How many vouchers" in form.get_data(as_text=True)
    response = admin_client.post(
        "/admin/vouchers/new/",
        {"coins": 25, "max_redemptions": 1, "count": 5, "note": "fair", "expires_at": ""},
    )
    assert response.status_code == 302
    listing = admin_client.get(response.headers["Location"])
    html = listing.get_data(as_text=True)
    assert "Created 5 vouchers." in html
    codes = re.findall(r'data-testid="voucher-code">([A-Z0-9-]+)<', html)
    assert len(codes) == 5 and older[0].code not in codes
    # The list's export exports just this batch.
    export = re.search(r'href="([^"]*/export/csv/[^"]*)"', html).group(1).replace("&amp;", "&")
    rows = list(csv.reader(io.StringIO(admin_client.get(export).get_data(as_text=True))))
    assert rows[0][0] == "Code" and sorted(row[0] for row in rows[1:]) == sorted(codes)
    entry = db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "voucher.create_batch")
    ).scalar_one()
    assert (entry.actor_id, entry.target_type) == (admin_client.user.id, "voucher_batch")


def test_create_one_with_a_chosen_code_and_expiry(db, admin_client):
    response = admin_client.post(
        "/admin/vouchers/new/",
        {
            "coins": 9,
            "max_redemptions": 100,
            "count": 1,
            "code": "spring-sale",
            "expires_at": "2099-03-01T12:30",
        },
    )
    assert response.status_code == 302
    voucher = db.session.execute(select(Voucher)).scalar_one()
    assert (voucher.code, voucher.max_redemptions) == ("SPRING-SALE", 100)
    assert voucher.expires_at.isoformat() == "2099-03-01T12:30:00+00:00"


def test_refusals_are_shown_under_their_field(db, admin_client):
    vouchers.create_vouchers(coins=1, code="TAKEN-CODE", actor_id=None)
    db.session.commit()
    cases = [
        ({"coins": 0, "max_redemptions": 1, "count": 1}, "coins must be"),
        ({"coins": 5, "max_redemptions": 1, "count": 5000}, "count must be"),
        ({"coins": 5, "max_redemptions": 1, "count": 1, "code": "taken-code"}, "exists already"),
        ({"coins": 5, "max_redemptions": 1, "count": 2, "code": "ONE-CODE"}, "count must be 1"),
        (
            {"coins": 5, "max_redemptions": 1, "count": 1, "expires_at": "2001-01-01T00:00"},
            "in the future",
        ),
        ({"coins": "x", "max_redemptions": 1, "count": 1}, 'data-testid="voucher-error"'),
    ]
    for data, words in cases:
        response = admin_client.post("/admin/vouchers/new/", data)
        assert 400 <= response.status_code < 500, data
        assert words in response.get_data(as_text=True), data
    assert _count(db, Voucher) == 1


def test_deactivate_from_the_list_is_audited(db, admin_client):
    (voucher,) = vouchers.create_vouchers(coins=5, actor_id=None)
    db.session.commit()
    html = admin_client.get("/admin/vouchers/").get_data(as_text=True)
    assert "Deactivate" in html and "badge-success" in html
    response = admin_client.post("/admin/vouchers/deactivate/", {"id": voucher.id})
    assert response.status_code == 302
    html = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Voucher {voucher.code} deactivated." in html and ">deactivated<" in html
    again = admin_client.post("/admin/vouchers/deactivate/", {"id": voucher.id})
    assert "was deactivated already" in admin_client.get(again.headers["Location"]).get_data(True)
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).is_active is False
    actions = db.session.execute(select(AuditEntry.action)).scalars().all()
    assert actions.count("voucher.deactivate") == 1
    assert admin_client.post("/admin/vouchers/deactivate/", {"id": "nope"}).status_code == 404


def test_deactivate_needs_the_csrf_token(db, admin_client):
    (voucher,) = vouchers.create_vouchers(coins=5, actor_id=None)
    db.session.commit()
    response = admin_client.post("/admin/vouchers/deactivate/", {"id": voucher.id}, csrf=False)
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).is_active is True


def test_redemptions_are_linked_from_the_voucher(db, admin_client, make_user):
    (voucher,) = vouchers.create_vouchers(coins=5, max_redemptions=3, actor_id=None)
    (other,) = vouchers.create_vouchers(coins=5, actor_id=None)
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    vouchers.redeem(alice.id, voucher.code)
    vouchers.redeem(bob.id, other.code)
    db.session.commit()
    html = admin_client.get("/admin/vouchers/").get_data(as_text=True)
    link = re.search(r'href="([^"]*voucher_redemptions[^"]*)" title="Who redeemed it">1 / 3', html)
    page = admin_client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "alice@example.com" in page and "bob@example.com" not in page
    audit = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert "voucher.create" in audit
