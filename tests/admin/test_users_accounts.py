"""The users view's account actions: suspension (with running servers), activity, the
admin 2FA requirement."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.helpers import DEFAULT_PASSWORD, fresh, get_csrf_token, status_is
from vpsshop.extensions import db as _db
from vpsshop.models import AuditEntry, User
from vpsshop.services import activity, provisioning
from vpsshop.services.activity import ActivityKind
from vpsshop.services.purchase import purchase


@pytest.fixture
def running(app, make_user, make_sim_node, make_worker, make_product, run_jobs):
    """A buyer signed in elsewhere, with a ready server on a real simulated node."""
    buyer = make_user("buyer@example.com", coins=10)
    node = make_sim_node()
    product = make_product([make_worker(node.url)], price=3)
    session_id = purchase(buyer, product.id).id
    provisioning.provision(session_id)
    provisioning.watch(session_id)
    assert fresh(session_id).status == "ready"
    buyer_client = app.test_client()
    token = get_csrf_token(buyer_client)
    buyer_client.post(
        "/login", data={"email": buyer.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert buyer.email in buyer_client.get("/").get_data(as_text=True)
    return buyer, session_id, buyer_client, node


def test_suspend_with_running_session_stops_it_and_signs_out(
    admin_client, running, run_jobs, api_token
):
    buyer, session_id, buyer_client, node = running
    url = f"/admin/users/suspend/?id={buyer.id}"
    form = admin_client.get(url)
    assert form.status_code == 200 and buyer.email in form.get_data(as_text=True)
    assert admin_client.post(url, {"reason": ""}).status_code == 400
    response = admin_client.post(url, {"reason": "abuse report #12", "stop_sessions": "y"})
    assert response.status_code == 302
    assert buyer.email not in buyer_client.get("/").get_data(as_text=True)
    assert fresh(session_id).status == "stopping"
    assert run_jobs(until=status_is(session_id, "deleted"))
    entry = _db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "user.suspend")
    ).scalar_one()
    assert entry.actor_id == admin_client.user.id and '"sessions_stopped": 1' in entry.details
    listing = admin_client.get("/admin/users/").get_data(as_text=True)
    assert "yes: abuse report #12" in listing and "Unsuspend" in listing


def test_suspend_without_stopping_keeps_the_server(admin_client, running):
    buyer, session_id, _, _ = running
    response = admin_client.post(f"/admin/users/suspend/?id={buyer.id}", {"reason": "check"})
    assert response.status_code == 302
    assert fresh(session_id).status == "ready"
    again = admin_client.post(f"/admin/users/suspend/?id={buyer.id}", {"reason": "twice"})
    assert again.status_code == 409


def test_unsuspend_row_action(admin_client, make_user):
    user = make_user()
    admin_client.post(f"/admin/users/suspend/?id={user.id}", {"reason": "temporary"})
    response = admin_client.post("/admin/users/unsuspend/", {"id": str(user.id)})
    assert response.status_code == 302
    _db.session.expire_all()
    assert not _db.session.get(User, user.id).is_suspended
    assert admin_client.post("/admin/users/unsuspend/", {"id": "nope"}).status_code == 404


def test_activity_from_the_users_row(admin_client, make_user):
    user = make_user("watched@example.com")
    activity.record(user.id, ActivityKind.SIGN_IN_FAILED, "wrong email or password")
    _db.session.commit()
    listing = admin_client.get("/admin/users/").get_data(as_text=True)
    assert f"/admin/users/activity/?id={user.id}" in listing
    page = admin_client.get(f"/admin/users/activity/?id={user.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Failed sign-in" in text and "watched@example.com" in text
    assert admin_client.get(f"/admin/users/activity/?id={user.id}&limit=x").status_code == 400
    assert admin_client.get("/admin/users/activity/?id=bad").status_code == 404


@pytest.mark.parametrize("app_config", [{"ADMIN_REQUIRE_2FA": True}])
def test_admin_without_2fa_is_sent_to_set_it_up(client, make_user, login):
    admin = make_user(admin=True)
    response = login(admin)
    # The sign-in lands on the panel, which sends the admin to the 2FA page first.
    panel = client.get(response.headers["Location"])
    assert panel.status_code == 302 and panel.headers["Location"].endswith("/account/2fa")
    page = client.get("/account/2fa").get_data(as_text=True)
    assert "Admins must turn this on" in page
    for path in ("/admin/", "/admin/users/", "/admin/jobs/", "/admin/audit/"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/account/2fa")
