"""The activity log's one ``record``: every kind, the request's address, own rows only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from vpsshop.extensions import db as _db
from vpsshop.models import ActivityEvent
from vpsshop.services import activity
from vpsshop.services.activity import ActivityKind


@pytest.mark.parametrize("kind", list(ActivityKind))
def test_every_kind_is_recorded_for_its_user_only(app, make_user, kind):
    user, other = make_user(), make_user()
    activity.record(user.id, kind, "detail")
    _db.session.commit()
    assert [e.kind for e in activity.events_of(user.id)] == [kind.value]
    assert activity.events_of(other.id) == []
    assert activity.label(kind.value) != kind.value  # every kind reads as words


def test_outside_a_request_there_is_no_address(app, make_user):
    user = make_user()
    activity.record(user.id, ActivityKind.PAYMENT, "500 coins")
    _db.session.commit()
    event = _db.session.execute(select(ActivityEvent)).scalar_one()
    assert event.ip is None and event.user_agent is None


def test_a_webhook_does_not_record_the_providers_address(app, make_user):
    user = make_user()
    with app.test_request_context(
        "/billing/stripe/webhook", environ_base={"REMOTE_ADDR": "1.2.3.4"}
    ):
        activity.record(user.id, ActivityKind.PAYMENT, "paid", from_request=False)
        activity.record(user.id, ActivityKind.SIGN_IN, "web")
    _db.session.commit()
    ips = {e.kind: e.ip for e in activity.events_of(user.id)}
    assert ips == {"payment": None, "sign_in": "1.2.3.4"}


def test_unknown_kinds_are_refused(app, make_user):
    with pytest.raises(ValueError):
        activity.record(make_user().id, "made_up")


def test_detail_is_cut_and_cleaned(app, make_user):
    user = make_user()
    activity.record(user.id, ActivityKind.PURCHASE, "Box\x00\n" + "x" * 900)
    _db.session.commit()
    detail = activity.events_of(user.id)[0].detail
    assert detail.startswith("Box??") and len(detail) == 500


def test_a_purchase_is_in_the_buyers_activity(app, make_user, make_worker, make_product):
    from vpsshop.services.purchase import purchase

    buyer = make_user(coins=10)
    product = make_product([make_worker()], price=3, name="Linux Small")
    purchase(buyer, product.id)
    events = activity.events_of(buyer.id)
    assert [(e.kind, e.detail) for e in events] == [("purchase", "Linux Small")]


def test_suspension_and_its_end_are_in_the_users_activity(app, make_user):
    from vpsshop.services import suspension

    admin, user = make_user(admin=True), make_user()
    suspension.suspend(user, "spam", actor_id=admin.id)
    suspension.unsuspend(user, actor_id=admin.id)
    kinds = [e.kind for e in activity.events_of(user.id)]
    assert kinds == ["unsuspended", "suspended"]
    assert activity.events_of(admin.id) == []
