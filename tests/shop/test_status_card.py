"""The polled status card: its cached layout renders exactly what the template renders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template

from tests.shop.factories import add_session
from vpsshop.models import SessionStatus
from vpsshop.services import crypto
from vpsshop.services.session_views import from_session
from vpsshop.shop import status_card

# Characters the template must escape, in the one value that is filled in per answer.
AWKWARD_PASSWORD = "<b>&amp;\"'</b>"


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="<i>Box</i>")


def _template_card(view) -> str:
    return render_template(status_card.TEMPLATE, **status_card.context(view))


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (SessionStatus.PENDING, {}),
        (SessionStatus.PROVISIONING, {"worker_route": "quack_abc"}),
        (SessionStatus.READY, {"rdp_password_encrypted": AWKWARD_PASSWORD}),
        (SessionStatus.FAILED, {"error": "Node said <script>alert(1)</script>"}),
        (SessionStatus.DELETED, {"ended_at": datetime.now(UTC) - timedelta(seconds=5)}),
    ],
)
def test_the_cached_layout_renders_what_the_template_renders(
    app, make_user, product, status, fields
):
    if "rdp_password_encrypted" in fields:
        fields = {"rdp_password_encrypted": crypto.encrypt(fields["rdp_password_encrypted"])}
    view = from_session(add_session(make_user(), product, status, **fields))
    with app.test_request_context("/"):
        for _ in range(2):  # the second answer comes from the layout cache
            before = _template_card(view)
            cached = status_card.render(view)
            after = _template_card(view)
            # A running card's elapsed time may tick between the two renderings.
            assert cached in (before, after)
    if status == SessionStatus.READY:
        assert "&lt;b&gt;&amp;amp;&#34;&#39;&lt;/b&gt;" in cached
        assert AWKWARD_PASSWORD not in cached


def test_the_cached_layout_holds_no_password(app, make_user, product):
    view = from_session(add_session(make_user(), product, SessionStatus.READY))
    with app.test_request_context("/"):
        layout = status_card._layout(view, "")
        assert 'id="cred-password"' in layout
        assert crypto.decrypt(view.rdp_password_encrypted) not in layout
        assert status_card.render(view).count(crypto.decrypt(view.rdp_password_encrypted)) == 1


def test_a_changed_session_gets_a_new_card(app, make_user, product):
    session = add_session(make_user(), product, SessionStatus.PROVISIONING)
    with app.test_request_context("/"):
        assert 'data-status="provisioning"' in status_card.render(from_session(session))
        session.status = SessionStatus.FAILED
        session.error = "No node answered."
        failed = status_card.render(from_session(session))
    assert 'data-status="failed"' in failed
    assert "No node answered." in failed
