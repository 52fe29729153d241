"""Admin side of a session's time: the product form's extension fields and each product's
waitlist queue (PostgreSQL and SQLite)."""

from __future__ import annotations

from datetime import timedelta

from tests.shop.factories import add_session
from vpsshop.extensions import db as _db
from vpsshop.models import SessionStatus, VpsProduct
from vpsshop.models.types import utcnow
from vpsshop.services import waitlist


def test_the_product_form_saves_and_checks_extension_fields(
    admin_client, make_worker, make_product
):
    worker = make_worker()
    product = make_product([worker], name="Timed", price=3, action=1, duration=30)
    form = admin_client.get(f"/admin/products/edit/?id={product.id}").get_data(as_text=True)
    assert "Extension (minutes)" in form and "Longest total run (minutes)" in form
    fields = {
        "name": "Timed",
        "price_coins": 3,
        "provision_action": 1,
        "duration_minutes": 30,
        "is_active": "y",
        "workers": [str(worker.id)],
        "extend_minutes": 60,
        "extend_price_coins": 2,
        "max_total_minutes": 150,
    }
    saved = admin_client.post(f"/admin/products/edit/?id={product.id}", data=fields)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    _db.session.expire_all()
    row = _db.session.get(VpsProduct, product.id)
    assert (row.extend_minutes, row.extend_price_coins, row.max_total_minutes) == (60, 2, 150)
    refused = admin_client.post(
        f"/admin/products/edit/?id={product.id}", data={**fields, "max_total_minutes": 10}
    )
    assert refused.status_code == 200
    assert "cannot be shorter than duration_minutes" in refused.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.get(VpsProduct, product.id).max_total_minutes == 150


def test_admins_see_each_products_queue_in_line_order(
    admin_client, make_worker, make_product, make_user
):
    worker = make_worker(max_sessions=1)
    product = make_product([worker], name="Busy Box", price=3, duration=30)
    add_session(
        make_user(),
        product,
        SessionStatus.READY,
        worker_id=worker.id,
        expires_at=utcnow() + timedelta(minutes=5),
    )
    first, second = make_user("first@example.com"), make_user("second@example.com")
    waitlist.join(first, product.id)
    waitlist.join(second, product.id)
    listing = admin_client.get("/admin/products/").get_data(as_text=True)
    assert "2 waiting" in listing
    queue = admin_client.get(
        "/admin/waitlist/?flt1_product_contains=Busy+Box&flt2_status_equals=waiting"
    )
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200
    assert html.index("first@example.com") < html.index("second@example.com")
    assert "#1" in html and "#2" in html
