"""Notices through a real SMTP server: each sent once per event, no credential in any mail,
retries after a refusal, settings and unsubscribe."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.helpers import QUICK_JOBS, fresh, get_csrf_token, status_is
from tests.mail.conftest import html_of, link_path, text_of
from vpsshop.extensions import db as _db
from vpsshop.models import MailMessage, MailState, SessionStatus, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.queue import get_mail_queue
from vpsshop.services import mail_outbox, notices, provisioning, purchase, session_notices


@pytest.fixture
def app_config(smtp_server) -> dict:
    return {
        **QUICK_JOBS,
        "MAIL_URL": smtp_server.url,
        "MAIL_RETRY_INTERVALS": "1,1",
        "PUBLIC_URL": "http://shop.test",
        "STOP_RETRY_BASE_SECONDS": 0.2,
    }


def _messages(**where) -> list[MailMessage]:
    _db.session.expire_all()
    query = select(MailMessage).filter_by(**where).order_by(MailMessage.created_at)
    return list(_db.session.execute(query).scalars())


def _record(user, kind="server_ready", dedupe="event-1", **context):
    message = notices.notify(user.id, kind, {"product_name": "Linux", **context}, dedupe)
    _db.session.commit()
    return message


def test_a_job_that_runs_twice_sends_once(db, make_user, run_jobs, smtp_server):
    user = make_user()
    message = _record(user)
    assert run_jobs()
    notices.enqueue_send(message.id)  # the same job again, after it ran
    notices.enqueue_send(message.id)
    assert run_jobs()
    assert mail_outbox.send(message.id) is None  # and called directly: nothing
    assert len(smtp_server.to(user.email)) == 1
    [row] = _messages(user_id=user.id)
    assert (row.state, row.attempts) == ("sent", 1)


def test_one_notice_per_event(db, make_user, run_jobs, smtp_server):
    user = make_user()
    assert _record(user) is not None
    assert _record(user) is None  # the same event: not recorded again
    assert run_jobs()
    assert len(smtp_server.to(user.email)) == 1


def test_nothing_is_sent_for_a_rolled_back_transaction(db, make_user, run_jobs, smtp_server):
    user = make_user()
    notices.notify(user.id, "server_ready", {"product_name": "Linux"}, "rolled-back")
    _db.session.rollback()
    assert run_jobs()
    assert smtp_server.messages == [] and _messages() == []


def test_retried_after_a_temporary_refusal(db, make_user, run_jobs, smtp_server):
    user = make_user()
    smtp_server.refuse_next(1, 451)
    message = _record(user)
    assert run_jobs(until=lambda: _messages()[0].state == "sent", timeout=20)
    [row] = _messages()
    assert row.attempts == 2 and row.last_error is None
    assert len(smtp_server.to(user.email)) == 1
    assert message.id == row.id


def test_out_of_retries_is_failed(db, make_user, run_jobs, smtp_server):
    user = make_user()
    smtp_server.refuse_next(3, 451)  # the first try and both retries
    _record(user)
    assert run_jobs(until=lambda: _messages()[0].state == "failed", timeout=20)
    [row] = _messages()
    assert row.attempts == 3 and "451" in row.last_error
    assert smtp_server.messages == []


def test_a_permanent_refusal_is_not_retried(db, make_user, run_jobs, smtp_server):
    user = make_user()
    smtp_server.refuse_next(1, 550)
    _record(user)
    assert run_jobs()
    [row] = _messages()
    assert (row.state, row.attempts) == ("failed", 1) and "550" in row.last_error
    assert get_mail_queue().scheduled_job_registry.count == 0


def test_unreachable_server_is_retried_then_failed(app, db, make_user, run_jobs, closed_port):
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{closed_port}"
    user = make_user()
    _record(user)
    assert run_jobs(until=lambda: _messages()[0].state == "failed", timeout=20)
    assert "connection failed" in _messages()[0].last_error


def test_lost_job_is_enqueued_again_by_the_sweep(db, make_user, redis_conn, run_jobs, smtp_server):
    user = make_user()
    message = _record(user)
    get_mail_queue().empty()  # as if Redis had lost it
    row = _messages()[0]
    row.created_at = utcnow() - timedelta(hours=1)
    _db.session.commit()
    assert mail_outbox.requeue_stalled() == 1
    assert run_jobs()
    assert len(smtp_server.to(user.email)) == 1 and message.id == _messages()[0].id


def test_html_is_escaped_and_has_no_script_or_remote_image(db, make_user, run_jobs, smtp_server):
    user = make_user()
    _record(user, product_name='<script>alert(1)</script><img src="http://evil.test/x">')
    assert run_jobs()
    [mail] = smtp_server.messages
    html = html_of(mail)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert not re.search(r"<[a-z][^>]*\ssrc\s*=", html, re.IGNORECASE)  # no tag loads anything


def _buy_until_ready(user, product, run_jobs):
    session = purchase.purchase(user, product.id)
    assert run_jobs(until=status_is(session.id, SessionStatus.READY), timeout=20)
    return fresh(session.id)


def test_server_notices_carry_no_credential_or_node_address(
    db, make_user, make_worker, make_product, sim_node, run_jobs, smtp_server
):
    user = make_user(coins=50)
    worker = make_worker(sim_node.url)
    product = make_product([worker], price=5, action=2, duration=30, name="Windows Box")
    session = _buy_until_ready(user, product, run_jobs)
    # The expiry and the "ends soon" mail stay scheduled for later: wait for the mail itself.
    assert run_jobs(until=lambda: len(smtp_server.messages) == 1)
    # Ending soon (once, however often its job runs), then deleted by its owner.
    assert session_notices.ending(session.id, session.expires_at.isoformat())
    assert not session_notices.ending(session.id, session.expires_at.isoformat())
    provisioning.request_stop(session.id, SessionStatus.DELETED)
    assert run_jobs(until=status_is(session.id, SessionStatus.DELETED), timeout=20)
    assert run_jobs(until=lambda: len(smtp_server.messages) == 3)

    session = fresh(session.id)
    kinds = [m["X-Vpsshop-Kind"] for m in smtp_server.to(user.email)]
    assert kinds == ["server_ready", "server_ending", "server_ended"]
    secrets = [
        session.rdp_host,
        f":{session.rdp_port}",
        session.rdp_user,
        _rdp_password(session),
        urlsplit(sim_node.url).netloc,
        "127.0.0.1",
    ]
    for mail in smtp_server.messages:
        whole = mail.as_string()
        for secret in secrets:
            assert secret and secret not in whole, (secret, mail["X-Vpsshop-Kind"])
    ready = smtp_server.to(user.email)[0]
    assert link_path(ready, "/vps/sessions/") == f"/vps/sessions/{session.id}"
    assert "Windows Box" in ready["Subject"]
    assert "List-Unsubscribe" in ready and ready["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click"
    )


def _rdp_password(session: VpsSession) -> str:
    from vpsshop.services import crypto

    return crypto.decrypt(session.rdp_password_encrypted)


def test_failed_and_refunded_notice(
    db, make_user, make_worker, make_product, make_sim_node, run_jobs, smtp_server
):
    node = make_sim_node(faults={"create": "500"})
    user = make_user(coins=20)
    product = make_product([make_worker(node.url)], price=7, name="Flaky")
    session = purchase.purchase(user, product.id)
    assert run_jobs(until=status_is(session.id, SessionStatus.FAILED), timeout=20)
    assert run_jobs()
    [mail] = smtp_server.to(user.email)
    assert mail["X-Vpsshop-Kind"] == "server_failed"
    assert "7 coins it cost are back" in text_of(mail)
    assert node.url.split("//")[1] not in mail.as_string()


def test_ending_notice_is_scheduled_before_the_expiry(db, make_user, app):
    user = make_user()
    expires = utcnow() + timedelta(minutes=30)
    session_notices.schedule_ending(user.id, expires)  # any id: only the schedule is looked at
    registry = get_mail_queue().scheduled_job_registry
    [job_id] = registry.get_job_ids()
    at = registry.get_scheduled_time(job_id)
    assert abs((at - (expires - timedelta(minutes=10))).total_seconds()) < 2
    session_notices.schedule_ending(user.id, utcnow() + timedelta(minutes=5))  # too close
    assert registry.count == 1


def test_coins_granted_by_an_admin(db, client, make_user, api_token, run_jobs, smtp_server):
    admin = make_user(admin=True)
    user = make_user()
    token = api_token(admin)
    headers = {"Authorization": f"Bearer {token}"}
    for op, amount in (("add", 40), ("sub", 5), ("set", 100), ("set", 10)):
        response = client.patch(
            f"/api/v1/admin/users/{user.id}/coins",
            json={"op": op, "amount": amount, "reason": "support"},
            headers=headers,
        )
        assert response.status_code == 200
    assert run_jobs()
    mails = smtp_server.to(user.email)
    assert [text_of(m).split(" coins")[0] for m in mails] == ["40", "65"]


def test_unsubscribe_without_signing_in(db, client, make_user, run_jobs, smtp_server):
    user = make_user()
    _record(user)
    assert run_jobs()
    [mail] = smtp_server.messages
    path = urlsplit(mail["List-Unsubscribe"].strip("<>")).path
    assert client.get(path).status_code == 200
    assert _db.session.get(type(user), user.id).notify_servers is True  # GET changes nothing
    # What a mail client sends for a one-click unsubscribe (RFC 8058): no cookie, no CSRF.
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    _db.session.expire_all()
    assert _db.session.get(type(user), user.id).notify_servers is False

    _record(user, dedupe="event-2")
    _record(user, kind="password_changed", dedupe="event-3")  # security: still sent
    assert run_jobs()
    assert [m["X-Vpsshop-Kind"] for m in smtp_server.messages] == [
        "server_ready",
        "password_changed",
    ]
    assert [m.state for m in _messages()] == ["sent", "skipped", "sent"]
    assert "List-Unsubscribe" not in smtp_server.messages[1]
    for bad in ("/unsubscribe/nope", path[:-3] + "abc"):
        assert client.post(bad).status_code == 400


def test_notification_settings_page(db, client, make_user, login):
    user = make_user()
    login(user)
    page = client.get("/account/notifications")
    assert page.status_code == 200
    token = get_csrf_token(client, "/account/notifications")
    saved = client.post("/account/notifications", data={"notify_servers": "y", "csrf_token": token})
    assert saved.status_code == 302
    _db.session.expire_all()
    fresh_user = _db.session.get(type(user), user.id)
    assert (fresh_user.notify_servers, fresh_user.notify_coins) == (True, False)
    assert client.post("/account/notifications", data={"notify_servers": "y"}).status_code == 400


def test_notification_settings_api(db, client, make_user, api_token):
    user = make_user()
    headers = {"Authorization": f"Bearer {api_token(user)}"}
    assert client.get("/api/v1/me/notifications", headers=headers).get_json() == {
        "notifications": {"servers": True, "coins": True}
    }
    changed = client.patch("/api/v1/me/notifications", json={"coins": False}, headers=headers)
    assert changed.get_json() == {"notifications": {"servers": True, "coins": False}}
    for bad in ({}, {"coins": "no"}, {"sms": True}, [], None):
        response = client.patch("/api/v1/me/notifications", json=bad, headers=headers)
        assert response.status_code == 400
    assert client.get("/api/v1/me/notifications").status_code == 401


def test_outbox_without_mail_url(app, db, make_user, run_jobs, tmp_path, smtp_server):
    app.config.update(MAIL_URL="", MAIL_OUTBOX_DIR=str(tmp_path / "outbox"))
    user = make_user()
    _record(user)
    assert run_jobs()
    [path] = (tmp_path / "outbox").iterdir()
    assert path.name.endswith("-server_ready.eml")
    assert user.email in path.read_text()
    assert _messages()[0].state == MailState.SENT.value and smtp_server.messages == []
