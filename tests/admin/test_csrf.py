"""CSRF: every admin POST (forms, row actions, bulk actions, deletes) needs the token."""

from __future__ import annotations

import pytest
from rq.job import Job
from sqlalchemy import text

from vpsshop.extensions import db as _db
from vpsshop.models import Payment
from vpsshop.queue import get_queue
from vpsshop.services import vouchers


def snapshot() -> dict[str, list]:
    """Every row of every table: what "nothing changed" is compared against."""
    _db.session.expire_all()
    return {
        table.name: sorted(
            map(repr, _db.session.execute(text(f'SELECT * FROM "{table.name}"')).all())
        )
        for table in _db.metadata.sorted_tables
    }


@pytest.fixture
def world(admin, make_user, make_worker, make_product, make_session, recording_node):
    customer = make_user("customer@example.com", coins=20)
    worker = make_worker(recording_node.url)
    product = make_product([worker])
    session = make_session(customer, product, worker, status="provisioning")
    # A disputed payment with coins the balance could not give back: one to settle.
    payment = Payment(
        user_id=customer.id, coins=5, amount_minor=100, currency="eur", coins_unrecovered=5
    )
    _db.session.add(payment)
    (voucher,) = vouchers.create_vouchers(coins=5, actor_id=None)
    _db.session.commit()
    return {
        "customer": customer,
        "worker": worker,
        "product": product,
        "session": session,
        "payment": payment,
        "voucher": voucher,
    }


def form_posts(world, failed_job_id: str) -> list[tuple[str, dict]]:
    worker, product = world["worker"], world["product"]
    customer, session = world["customer"], world["session"]
    return [
        (
            "/admin/workers/new/",
            {"name": "n2", "base_url": "http://127.0.0.1:1", "max_sessions": 2},
        ),
        (
            f"/admin/workers/edit/?id={worker.id}",
            {"name": "renamed", "base_url": worker.base_url, "max_sessions": 5},
        ),
        ("/admin/workers/disable/", {"id": worker.id}),
        ("/admin/workers/enable/", {"id": worker.id}),
        ("/admin/workers/probe/", {"id": worker.id}),
        (f"/admin/workers/cloud-login/?id={worker.id}", {"email": "a@b.c", "password": "pw"}),
        ("/admin/workers/action/", {"action": "disable", "rowid": worker.id}),
        ("/admin/workers/delete/", {"id": worker.id}),
        ("/admin/products/new/", {"name": "P2", "price_coins": 3, "provision_action": 1}),
        (
            f"/admin/products/edit/?id={product.id}",
            {"name": "P3", "price_coins": 9, "provision_action": 2},
        ),
        ("/admin/products/delete/", {"id": product.id}),
        ("/admin/products/action/", {"action": "delete", "rowid": product.id}),
        (f"/admin/users/coins/?id={customer.id}", {"op": "set", "amount": 0, "reason": "x"}),
        ("/admin/users/delete/", {"id": customer.id}),
        (f"/admin/users/suspend/?id={customer.id}", {"reason": "spam"}),
        ("/admin/users/unsuspend/", {"id": customer.id}),
        ("/admin/sessions/stop/", {"id": session.id}),
        ("/admin/sessions/fail-and-refund/", {"id": session.id}),
        ("/admin/sessions/delete/", {"id": session.id}),
        ("/admin/jobs/requeue/", {"job_id": failed_job_id}),
        ("/admin/jobs/delete/", {"job_id": failed_job_id}),
        ("/admin/payments/settle/", {"id": world["payment"].id, "recover": "1"}),
        ("/admin/vouchers/new/", {"coins": 5, "max_redemptions": 1, "count": 2}),
        ("/admin/vouchers/deactivate/", {"id": world["voucher"].id}),
        ("/admin/vouchers/delete/", {"id": world["voucher"].id}),
        # A made-up message id: refused for the missing token before it is looked up.
        ("/admin/mail_messages/send-again/", {"id": session.id}),
    ]


@pytest.fixture
def failed_job(app, run_jobs) -> str:
    """A job that really failed in an RQ worker."""
    job = get_queue().enqueue("builtins.int", "boom", job_timeout=5, result_ttl=60, failure_ttl=600)
    assert run_jobs()
    assert job.id in get_queue().failed_job_registry
    return job.id


def test_every_admin_post_route_is_in_the_list(app, world, failed_job):
    """New POST routes must be added to the CSRF list below (or be Flask-Admin's own)."""
    listed = {url.split("?")[0] for url, _ in form_posts(world, failed_job)}
    generic = ("/action/", "/delete/", "/ajax/update/", "/new/", "/edit/")
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and "POST" in rule.methods:
            assert rule.rule in listed or rule.rule.endswith(generic), rule.rule


def test_posts_without_token_are_refused_and_change_nothing(
    admin_client, world, failed_job, recording_node, app
):
    posts = form_posts(world, failed_job)
    # Flask-Admin's generic endpoints of every view, too.
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and rule.rule.endswith(("/action/", "/ajax/update/")):
            posts.append((rule.rule, {"action": "delete", "rowid": "x", "list_form_pk": "x"}))
    before = snapshot()
    for url, data in posts:
        for token in (None, "forged-token"):
            payload = dict(data)
            if token:
                payload["csrf_token"] = token
            response = admin_client.post(url, payload, csrf=False)
            assert response.status_code == 400, (url, token, response.status_code)
    assert snapshot() == before
    assert recording_node.requests == []
    job = Job.fetch(failed_job, connection=get_queue().connection)
    assert job.get_status() == "failed"


def test_get_never_changes_anything(admin_client, world, failed_job, recording_node):
    before = snapshot()
    for url, data in form_posts(world, failed_job):
        query = "&".join(f"{key}={value}" for key, value in data.items())
        joiner = "&" if "?" in url else "?"
        response = admin_client.get(f"{url}{joiner}{query}")
        assert response.status_code in (200, 302, 404, 405), (url, response.status_code)
    assert snapshot() == before
    assert recording_node.requests == []
