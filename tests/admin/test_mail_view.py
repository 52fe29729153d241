"""The admin's Mail list: who was sent what and how it went, never a body; send again."""

from __future__ import annotations

import json

from vpsshop.extensions import db as _db
from vpsshop.models import MailMessage, MailState
from vpsshop.queue import get_mail_queue
from vpsshop.services import notices


def _message(user, state: MailState, error: str | None = None) -> MailMessage:
    message = notices.notify(user.id, "server_ready", {"product_name": "Linux"}, None)
    message.state = state.value
    message.last_error = error
    _db.session.commit()
    get_mail_queue().empty()  # only the jobs this test makes
    return message


def test_list_shows_records_not_bodies(admin_client, make_user):
    user = make_user("buyer@example.com")
    _message(user, MailState.FAILED, "SMTP 550: mailbox unavailable")
    page = admin_client.get("/admin/mail_messages/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "buyer@example.com" in html and "server_ready" in html
    assert "SMTP 550: mailbox unavailable" in html
    assert "Send again" in html
    filtered = admin_client.get("/admin/mail_messages/?flt_state_equals=sent")
    assert "buyer@example.com" not in filtered.get_data(as_text=True)


def test_send_again_only_a_failed_one(admin_client, make_user):
    user = make_user()
    failed = _message(user, MailState.FAILED, "SMTP 451: later")
    sent = _message(user, MailState.SENT)
    response = admin_client.post("/admin/mail_messages/send-again/", {"id": str(failed.id)})
    assert response.status_code == 302
    _db.session.expire_all()
    assert _db.session.get(MailMessage, failed.id).state == "queued"
    assert get_mail_queue().get_job_ids() == [notices.send_job_id(failed.id)]
    admin_client.post("/admin/mail_messages/send-again/", {"id": str(sent.id)})
    assert _db.session.get(MailMessage, sent.id).state == "sent"
    assert admin_client.post("/admin/mail_messages/send-again/", {"id": "nope"}).status_code == 404
    assert (
        admin_client.post(
            "/admin/mail_messages/send-again/", {"id": str(failed.id)}, csrf=False
        ).status_code
        == 400
    )


def test_not_for_buyers(user_client):
    assert user_client.get("/admin/mail_messages/").status_code == 403


def test_records_hold_no_link_token(make_user):
    user = make_user()
    message = notices.notify(user.id, "password_reset")
    _db.session.commit()
    assert json.loads(message.context) == {}
