"""Workers view: register, edit, disable/enable/probe, cloud login; the token stays hidden."""

from __future__ import annotations

import logging

from sqlalchemy import select

from tests.admin.test_csrf import snapshot
from vpsshop.models import AuditEntry, Worker
from vpsshop.services import workers as worker_service

TOKEN = "node-token-5ecret-Zq81"


def _worker(db, name: str) -> Worker | None:
    db.session.expire_all()
    return db.session.execute(select(Worker).where(Worker.name == name)).scalar_one_or_none()


def _actions(db, target_id) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(AuditEntry.action)
            .where(AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.id)
        ).scalars()
    )


def test_register_through_the_form_stores_the_token_encrypted(admin_client, db, admin):
    response = admin_client.post(
        "/admin/workers/new/",
        {"name": "node-a", "base_url": "http://10.0.0.5:4000/", "max_sessions": 4, "token": TOKEN},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    worker = _worker(db, "node-a")
    assert worker.base_url == "http://10.0.0.5:4000"
    assert worker.max_sessions == 4
    assert worker.token_encrypted and TOKEN not in worker.token_encrypted
    assert worker_service.worker_token(worker) == TOKEN
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.actor_id) == ("worker.register", admin.id)
    assert TOKEN not in entry.details


def test_token_never_appears_on_any_admin_page(admin_client, db, make_worker):
    worker = make_worker(token=TOKEN)
    pages = [
        "/admin/",
        "/admin/workers/",
        f"/admin/workers/edit/?id={worker.id}",
        f"/admin/workers/cloud-login/?id={worker.id}",
        "/admin/audit/",
        f"/admin/workers/details/?id={worker.id}",
    ]
    for url in pages:
        body = admin_client.get(url, follow_redirects=True).get_data(as_text=True)
        assert TOKEN not in body, url
        assert worker.token_encrypted not in body, url
        assert "token_encrypted" not in body, url
    edit = admin_client.get(f"/admin/workers/edit/?id={worker.id}").get_data(as_text=True)
    assert 'name="token"' in edit and 'type="password"' in edit


def test_invalid_url_is_refused_inline_and_nothing_is_created(admin_client, db):
    response = admin_client.post(
        "/admin/workers/new/", {"name": "bad", "base_url": "ftp://x", "max_sessions": 3}
    )
    assert response.status_code == 200
    assert "Invalid base URL" in response.get_data(as_text=True)
    assert _worker(db, "bad") is None


def test_duplicate_name_is_refused(admin_client, db, make_worker):
    worker = make_worker()
    response = admin_client.post(
        "/admin/workers/new/",
        {"name": worker.name, "base_url": "http://127.0.0.1:5", "max_sessions": 3},
    )
    assert response.status_code == 200
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.execute(select(Worker)).scalars().all() == [worker]


def test_edit_renames_sets_and_clears_the_token(admin_client, db, make_worker):
    worker = make_worker()
    url = f"/admin/workers/edit/?id={worker.id}"
    response = admin_client.post(
        url, {"name": "renamed", "base_url": worker.base_url, "max_sessions": 7, "token": TOKEN}
    )
    assert response.status_code == 302
    worker = _worker(db, "renamed")
    assert worker.max_sessions == 7
    assert worker_service.worker_token(worker) == TOKEN
    # An empty token field keeps the token.
    admin_client.post(url, {"name": "renamed", "base_url": worker.base_url, "max_sessions": 7})
    assert worker_service.worker_token(_worker(db, "renamed")) == TOKEN
    admin_client.post(
        url, {"name": "renamed", "base_url": worker.base_url, "max_sessions": 7, "clear_token": "y"}
    )
    assert _worker(db, "renamed").token_encrypted is None
    assert _actions(db, worker.id) == ["worker.update", "worker.update"]


def test_disable_enable_row_actions_and_bulk(admin_client, db, make_worker, admin):
    first, second = make_worker(), make_worker()
    assert admin_client.post("/admin/workers/disable/", {"id": first.id}).status_code == 302
    db.session.expire_all()
    assert first.status == "disabled"
    listing = admin_client.get("/admin/workers/").get_data(as_text=True)
    assert "Enable" in listing and "Disable" in listing
    admin_client.post("/admin/workers/enable/", {"id": first.id})
    db.session.expire_all()
    assert first.status == "active"
    response = admin_client.post(
        "/admin/workers/action/", {"action": "disable", "rowid": [first.id, second.id]}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (first.status, second.status) == ("disabled", "disabled")
    assert _actions(db, first.id) == ["worker.disable", "worker.enable", "worker.disable"]
    assert admin_client.post("/admin/workers/disable/", {"id": "nope"}).status_code == 404


def test_probe_now_records_health(admin_client, db, make_worker, recording_node, closed_port_url):
    good, bad = make_worker(recording_node.url), make_worker(closed_port_url)
    response = admin_client.post("/admin/workers/probe/", {"id": good.id}, follow_redirects=True)
    assert "answered" in response.get_data(as_text=True)
    response = admin_client.post("/admin/workers/probe/", {"id": bad.id}, follow_redirects=True)
    assert "did not answer" in response.get_data(as_text=True)
    db.session.expire_all()
    assert good.last_seen_at is not None and good.consecutive_failures == 0
    assert bad.consecutive_failures == 1 and bad.last_error
    assert _actions(db, good.id) == ["worker.probe"]


def test_list_shows_load_health_and_products(
    admin_client, make_worker, make_product, make_user, make_session
):
    worker = make_worker(max_sessions=3)
    product = make_product([worker], name="Windows Big")
    customer = make_user()
    make_session(customer, product, worker, status="ready", ready=True)
    make_session(customer, product, worker, status="deleted")
    body = admin_client.get("/admin/workers/").get_data(as_text=True)
    assert worker.name in body
    assert "1 / 3" in body
    assert "Windows Big" in body
    assert "healthy" in body


def test_cloud_login_forwards_shows_the_answer_and_keeps_nothing(
    admin_client, db, make_worker, recording_node, caplog
):
    caplog.set_level(logging.DEBUG)
    worker = make_worker(recording_node.url)
    recording_node.login_body = {"result": "token added", "tokens": 2}
    email, password = "ops-cloud@example.net", "Cl0ud-Pa55word!"
    before = snapshot()
    response = admin_client.post(
        f"/admin/workers/cloud-login/?id={worker.id}", {"email": email, "password": password}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "token added" in body and "HTTP 200" in body
    assert password not in body
    assert recording_node.logins() == [{"email": email, "password": password}]
    # Neither value is stored: not in any table, not in the session cookie, not in a log.
    after = snapshot()
    assert email not in repr(after) and password not in repr(after)
    assert after["audit_entries"] != before["audit_entries"]
    with admin_client.client.session_transaction() as cookie_session:
        assert email not in repr(dict(cookie_session))
        assert password not in repr(dict(cookie_session))
    assert password not in caplog.text and email not in caplog.text


def test_cloud_login_shows_a_node_refusal_and_an_unreachable_node(
    admin_client, make_worker, recording_node, closed_port_url
):
    recording_node.login_status = 400
    recording_node.login_body = "wrong password for cloud account"
    worker = make_worker(recording_node.url)
    response = admin_client.post(
        f"/admin/workers/cloud-login/?id={worker.id}", {"email": "a@b.example", "password": "x"}
    )
    assert response.status_code == 502
    assert "wrong password for cloud account" in response.get_data(as_text=True)
    dead = make_worker(closed_port_url)
    response = admin_client.post(
        f"/admin/workers/cloud-login/?id={dead.id}", {"email": "a@b.example", "password": "x"}
    )
    assert response.status_code == 502
    assert "unreachable" in response.get_data(as_text=True)


def test_cloud_login_form_validation(admin_client, make_worker, recording_node):
    worker = make_worker(recording_node.url)
    response = admin_client.post(
        f"/admin/workers/cloud-login/?id={worker.id}", {"email": "not-an-email", "password": ""}
    )
    assert response.status_code == 400
    assert recording_node.requests == []


def test_the_list_pages_20_workers_with_every_row_action(admin_client, app, make_worker):
    from flask import url_for

    workers = sorted((make_worker() for _ in range(30)), key=lambda w: w.name)
    first = admin_client.get("/admin/workers/").get_data(as_text=True)
    second = admin_client.get("/admin/workers/?page=1").get_data(as_text=True)
    assert [w.name for w in workers if w.name in first] == [w.name for w in workers[:20]]
    assert [w.name for w in workers if w.name in second] == [w.name for w in workers[20:]]
    # The row actions' URLs, built once per page, are the ones url_for builds.
    with app.test_request_context():
        worker = workers[0]
        edit = url_for("workers.edit_view", id=str(worker.id), url="/admin/workers/")
        login = url_for("workers.cloud_login", id=str(worker.id))
        posts = [url_for(f"workers.{name}") for name in ("disable", "probe")]
    assert edit.replace("&", "&amp;") in first
    assert login in first
    for url in posts:
        assert first.count(f'action="{url}"') == 20
