"""Edit forms of UUID-keyed rows open and save on both databases (a 500 on SQLite before)."""

from __future__ import annotations

import pytest

from vpsshop.extensions import db as _db
from vpsshop.models import VpsProduct, Worker


def test_worker_and_product_edit_forms_open_and_save(
    admin_client, database, make_worker, make_product
):
    worker = make_worker()
    product = make_product([worker], name="Linux small", price=3, action=1)
    for url in (f"/admin/workers/edit/?id={worker.id}", f"/admin/products/edit/?id={product.id}"):
        response = admin_client.get(url)
        assert response.status_code == 200, (database, url, response.get_data(as_text=True))
    response = admin_client.post(
        f"/admin/products/edit/?id={product.id}",
        {
            "name": "Linux small",
            "price_coins": 4,
            "provision_action": 1,
            "is_active": "y",
            "workers": [str(worker.id)],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    response = admin_client.post(
        f"/admin/workers/edit/?id={worker.id}",
        {"name": worker.name, "base_url": worker.base_url, "max_sessions": 5},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.get(VpsProduct, product.id).price_coins == 4
    assert _db.session.get(Worker, worker.id).max_sessions == 5


@pytest.mark.parametrize("raw_id", ["not-a-uuid", "", "1234"])
def test_a_bad_id_in_an_edit_url_is_record_not_found(admin_client, raw_id):
    for view in ("workers", "products"):
        response = admin_client.get(f"/admin/{view}/edit/?id={raw_id}")
        assert response.status_code == 302, (view, raw_id)
        listing = admin_client.get(response.headers["Location"]).get_data(as_text=True)
        # An empty id is Flask-Admin's plain redirect to the list, without a message.
        assert ("Record does not exist." in listing) is bool(raw_id), (view, raw_id)


def test_a_nul_in_an_edit_url_is_refused_before_the_view(admin_client):
    # vpsshop/input_checks.py answers every query parameter holding a NUL with a 400.
    for view in ("workers", "products"):
        response = admin_client.get(f"/admin/{view}/edit/?id=%00")
        assert response.status_code == 400, view
