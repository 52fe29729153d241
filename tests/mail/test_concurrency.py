"""Real concurrency on PostgreSQL: two sends of one message, two uses of one reset link."""

from __future__ import annotations

import threading

import pytest

from tests.mail.conftest import link_path
from vpsshop.extensions import db as _db
from vpsshop.services import mail_outbox, notices, password_reset

pytestmark = pytest.mark.postgresql_only


def _at_once(app, work, count: int = 2) -> list:
    """Run ``work()`` in ``count`` threads released together; their results or errors."""
    _db.session.rollback()  # this thread holds no transaction while they run
    barrier = threading.Barrier(count)
    results: list = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(work())
            except Exception as error:  # the loser's refusal is a result too
                results.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_jobs_at_once_send_one_mail(app, db, make_user, smtp_server):
    user = make_user()
    message_id = notices.notify(user.id, "server_ready", {"product_name": "Linux"}, "race").id
    _db.session.commit()
    results = _at_once(app, lambda: mail_outbox.send(message_id), count=4)
    assert sorted(map(str, results)) == ["None", "None", "None", "sent"]
    assert len(smtp_server.to(user.email)) == 1


def test_one_reset_link_used_twice_at_once(app, db, client, make_user, run_jobs, smtp_server):
    user = make_user()
    client.post("/api/v1/auth/password-reset", json={"email": user.email})
    assert run_jobs()
    token = link_path(smtp_server.to(user.email)[0], "/reset/").removeprefix("/reset/")
    results = _at_once(app, lambda: password_reset.reset_password(token, "new password one"))
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, password_reset.InvalidResetToken)]
    assert len(winners) == 1 and len(losers) == 1, results


def test_one_event_noticed_by_two_transactions_at_once_is_recorded_once(app, db, make_user):
    from sqlalchemy import func, select

    from vpsshop.models import MailMessage

    user = make_user()
    user_id = user.id

    def record():
        message = notices.notify(user_id, "server_ready", {"product_name": "Linux"}, "same")
        found = None if message is None else message.id
        _db.session.commit()
        return found

    results = _at_once(app, record, count=4)
    assert len(results) == 4 and not [r for r in results if isinstance(r, Exception)]
    recorded = [r for r in results if r is not None]
    assert len(recorded) == 1
    rows = _db.session.execute(
        select(MailMessage.id, func.count())
        .where(MailMessage.dedupe_key == "same")
        .group_by(MailMessage.id)
    ).all()
    assert [(row[0], row[1]) for row in rows] == [(recorded[0], 1)]
