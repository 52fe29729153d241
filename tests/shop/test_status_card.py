"""The status card: escaped values, the password only while ready, a new card per change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.shop.factories import add_session
from vpsshop.models import SessionStatus
from vpsshop.services import crypto
from vpsshop.shop import status_card

AWKWARD_PASSWORD = "<b>&amp;\"'</b>"


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="<i>Box</i>")


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (SessionStatus.PENDING, {}),
        (SessionStatus.PROVISIONING, {"worker_route": "quack_abc"}),
        (SessionStatus.READY, {}),
        (SessionStatus.FAILED, {"error": "Node said <script>alert(1)</script>"}),
        (SessionStatus.DELETED, {"ended_at": datetime.now(UTC) - timedelta(seconds=5)}),
    ],
)
def test_the_card_escapes_what_it_shows(app, make_user, product, status, fields):
    if status == SessionStatus.READY:
        fields = {"rdp_password_encrypted": crypto.encrypt(AWKWARD_PASSWORD)}
    session = add_session(make_user(), product, status, **fields)
    with app.test_request_context("/"):
        card = status_card.render(session)
    assert f'data-status="{status}"' in card
    assert "<script>" not in card
    if status == SessionStatus.READY:
        assert "&lt;b&gt;&amp;amp;&#34;&#39;&lt;/b&gt;" in card
        assert AWKWARD_PASSWORD not in card
    else:
        assert 'id="cred-password"' not in card


def test_a_changed_session_gets_a_new_card(app, make_user, product):
    session = add_session(make_user(), product, SessionStatus.PROVISIONING)
    with app.test_request_context("/"):
        assert 'data-status="provisioning"' in status_card.render(session)
        session.status = SessionStatus.FAILED
        session.error = "No node answered."
        failed = status_card.render(session)
    assert 'data-status="failed"' in failed
    assert "No node answered." in failed
