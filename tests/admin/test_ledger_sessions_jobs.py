"""Ledger, sessions, jobs, audit and dashboard views."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from tests.helpers import assert_ledger_invariant
from vpsshop.models import AuditEntry, CoinTransaction, User, VpsSession
from vpsshop.queue import get_mail_queue, get_queue, get_watch_queue
from vpsshop.services import ledger


def test_ledger_is_newest_first_filterable_and_exports_csv(admin_client, db, make_user, admin):
    alice = make_user("alice@example.com", coins=10)
    bob = make_user("bob@example.com", coins=3)
    ledger.sub(alice.id, 4, reason='=HYPERLINK("http://x")', actor_id=admin.id)
    db.session.commit()
    body = admin_client.get("/admin/ledger/").get_data(as_text=True)
    assert body.index("admin_sub") < body.index("admin_add")  # newest first
    by_user = admin_client.get("/admin/ledger/?flt0_user_email_contains=bob").get_data(as_text=True)
    assert "bob@example.com" in by_user and "alice@example.com" not in by_user
    by_kind = admin_client.get("/admin/ledger/?flt0_kind_equals=admin_sub").get_data(as_text=True)
    assert "admin_sub" in by_kind and "test grant" not in by_kind
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    future = admin_client.get(f"/admin/ledger/?flt0_date_on_or_after={tomorrow}").get_data(
        as_text=True
    )
    assert "alice@example.com" not in future
    today = datetime.now(UTC).date().isoformat()
    until = admin_client.get(f"/admin/ledger/?flt0_date_on_or_before={today}").get_data(
        as_text=True
    )
    assert "alice@example.com" in until

    export = admin_client.get("/admin/ledger/export/csv/")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0][:3] == ["Created At", "User", "Kind"]
    assert len(rows) == 4
    assert rows[1][1] == "alice@example.com" and rows[1][2] == "admin_sub"
    assert rows[1][5].startswith("'=")  # formulas are defused
    assert {row[1] for row in rows[1:]} == {"alice@example.com", "bob@example.com"}
    # Read-only: no create, edit or delete.
    assert admin_client.get("/admin/ledger/new/").status_code == 302
    db.session.expire_all()
    assert len(db.session.execute(select(CoinTransaction)).all()) == 3
    assert bob.id


def test_big_lists_stay_paginated_and_fast(admin_client, db, make_user, make_worker, make_product):
    customer = make_user("many@example.com")
    worker = make_worker()
    product = make_product([worker])
    now = datetime.now(UTC)
    db.session.execute(
        insert(VpsSession),
        [
            {
                "user_id": customer.id,
                "product_id": product.id,
                "worker_id": worker.id,
                "status": "deleted",
                "price_coins": 5,
                "created_at": now - timedelta(seconds=i),
                "updated_at": now,
            }
            for i in range(10_000)
        ],
    )
    db.session.execute(
        insert(CoinTransaction),
        [
            {
                "user_id": customer.id,
                "delta": 1,
                "balance_after": i + 1,
                "kind": "admin_add",
                "reason": "bulk",
                "created_at": now - timedelta(seconds=i),
            }
            for i in range(100_000)
        ],
    )
    db.session.execute(User.__table__.update().values(coins=100_000).where(User.id == customer.id))
    db.session.commit()
    for url in (
        "/admin/sessions/",
        "/admin/ledger/",
        "/admin/ledger/?page=1000",
        "/admin/sessions/?flt0_status_equals=deleted",
        "/admin/",
    ):
        started = time.monotonic()
        response = admin_client.get(url)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, url
        assert elapsed < 2.0, (url, elapsed)
        assert response.get_data(as_text=True).count(">many@example.com<") <= 50, url
    assert_ledger_invariant()


def test_sessions_list_filters_and_actions(
    admin_client, db, make_user, make_worker, make_product, make_session, admin
):
    customer = make_user("buyer@example.com", coins=0)
    worker = make_worker()
    product = make_product([worker], name="Linux small", price=5)
    pending = make_session(customer, product, worker, status="provisioning")
    ready = make_session(customer, product, worker, status="ready", ready=True)
    listing = admin_client.get("/admin/sessions/").get_data(as_text=True)
    assert "buyer@example.com" in listing and "Linux small" in listing and worker.name in listing
    assert f"/vps/sessions/{ready.id}" in listing
    assert listing.count("Fail and refund") == 1  # only the never-ready session offers it
    only_ready = admin_client.get("/admin/sessions/?flt0_status_equals=ready").get_data(
        as_text=True
    )
    assert str(ready.id) in only_ready and str(pending.id) not in only_ready
    by_worker = admin_client.get(f"/admin/sessions/?flt0_worker_contains={worker.name}").get_data(
        as_text=True
    )
    assert str(ready.id) in by_worker
    none = admin_client.get("/admin/sessions/?flt0_product_contains=nothing-like-it")
    assert str(ready.id) not in none.get_data(as_text=True)

    # A ready session is never refunded: the service refuses, shown as a flash.
    response = admin_client.post(
        "/admin/sessions/fail-and-refund/", {"id": ready.id}, follow_redirects=True
    )
    assert "cannot be refunded" in response.get_data(as_text=True)
    db.session.expire_all()
    assert ready.status == "ready"

    # Give the pending session's price to the ledger first, as a purchase would have.
    ledger.add(customer.id, 5, reason="setup")
    ledger.charge(customer.id, 5, session_id=pending.id)
    db.session.commit()
    response = admin_client.post("/admin/sessions/fail-and-refund/", {"id": pending.id})
    assert response.status_code == 302
    db.session.expire_all()
    assert pending.status == "failed"
    assert db.session.get(User, customer.id).coins == 5
    assert_ledger_invariant()

    response = admin_client.post("/admin/sessions/stop/", {"id": ready.id})
    assert response.status_code == 302
    db.session.expire_all()
    assert ready.status in ("stopping", "deleted")
    actions = db.session.execute(
        select(AuditEntry.action, AuditEntry.actor_id).where(AuditEntry.target_type == "session")
    ).all()
    assert set(actions) == {("session.fail_and_refund", admin.id), ("session.stop", admin.id)}


def _enqueue_failing(text: str):
    # int("...") raises ValueError with ``text`` in its message: a real failure, run by RQ.
    return get_queue().enqueue("builtins.int", text, job_timeout=5, result_ttl=60, failure_ttl=600)


def test_jobs_view_lists_and_requeues_or_deletes_failures(admin_client, db, admin, run_jobs):
    queue = get_queue()
    first = _enqueue_failing("node exploded").id
    second = _enqueue_failing("nope").id
    assert run_jobs()
    waiting = queue.enqueue("builtins.print", "w", job_timeout=5, result_ttl=60, failure_ttl=60)
    body = admin_client.get("/admin/jobs/").get_data(as_text=True)
    assert "ValueError: invalid literal for int() with base 10: &#39;node exploded&#39;" in body
    assert "&#39;nope&#39;" in body
    assert 'data-testid="failed-count">2<' in body
    assert 'data-testid="queued">1<' in body
    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="failed-jobs">\n        2' in dashboard

    assert admin_client.post("/admin/jobs/requeue/", {"job_id": first}).status_code == 302
    assert first in queue.job_ids and waiting.id in queue.job_ids
    assert admin_client.post("/admin/jobs/delete/", {"job_id": second}).status_code == 302
    assert queue.failed_job_registry.count == 0
    assert admin_client.post("/admin/jobs/delete/", {"job_id": "not-a-job"}).status_code == 404
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.target_id)).all()
    assert set(actions) == {("job.requeue", first), ("job.delete", second)}
    audit_page = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert "job.requeue" in audit_page and admin.email in audit_page


def test_dashboard_counts(admin_client, db, make_user, make_worker, make_product, make_session):
    customer = make_user(coins=20)
    worker = make_worker(max_sessions=3)
    make_worker(max_sessions=2).status = "disabled"
    db.session.commit()
    product = make_product([worker], price=5)
    session = make_session(customer, product, worker, status="provisioning")
    make_session(customer, product, worker, status="ready", ready=True)
    ledger.charge(customer.id, 5, session_id=session.id)
    db.session.commit()
    body = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="sessions-provisioning">1<' in body
    assert 'data-testid="sessions-ready">1<' in body
    assert 'data-testid="workers-healthy">1<' in body
    assert 'data-testid="workers-total">2<' in body
    assert 'data-testid="free-slots">1<' in body
    assert 'data-testid="coins-spent">5<' in body
    assert 'data-testid="coins-refunded">0<' in body
    assert "/admin/sessions/?flt0_status_equals=ready" in body


def test_jobs_view_shows_the_mail_queue_and_requeues_its_failures(admin_client, db, run_jobs):
    mail = get_mail_queue()
    failed = mail.enqueue("builtins.int", "smtp gone", job_timeout=5, failure_ttl=600).id
    assert run_jobs()
    body = admin_client.get("/admin/jobs/").get_data(as_text=True)
    for queue in (get_watch_queue(), get_queue(), mail):
        assert f'data-queue="{queue.name}"' in body
    assert "&#39;smtp gone&#39;" in body
    # Each queue has its own counts: the watch and lifecycle queues' failed counts are 0.
    assert body.count('data-testid="failed-count">0<') == 2
    assert body.count('data-testid="failed-count">1<') == 1
    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="failed-jobs">\n        1' in dashboard

    assert admin_client.post("/admin/jobs/requeue/", {"job_id": failed}).status_code == 302
    assert mail.job_ids == [failed] and get_queue().count == 0
    assert mail.failed_job_registry.count == 0
