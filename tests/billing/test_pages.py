"""The buyer's billing pages: packs, Buy coins, the live success page, the hold banner."""

from __future__ import annotations

import re

from tests.billing.conftest import BOTH_DATABASES
from tests.fixtures.stripe import deliver, event, session_object
from tests.helpers import csrf_token_from, get_csrf_token
from vpsshop.extensions import db as _db
from vpsshop.models import Payment, User

pytestmark = BOTH_DATABASES


def _hold(user_id, coins_unrecovered: int = 10) -> None:
    user = _db.session.get(User, user_id)
    user.coins_unrecovered = coins_unrecovered
    _db.session.commit()


def test_billing_needs_a_sign_in(client):
    assert client.get("/billing").status_code == 302
    assert client.post("/billing/checkout", data={}).status_code in (302, 400)


def test_buy_coins_goes_to_the_checkout_page(client, login, make_user, make_pack, standin):
    user = make_user()
    pack = make_pack(coins=50, price_minor=500, name="Starter")
    login(user)
    page = client.get("/billing").get_data(as_text=True)
    assert "Starter" in page and "5.00 EUR" in page and "Buy coins: Starter" in page
    token = get_csrf_token(client, "/billing")
    response = client.post("/billing/checkout", data={"pack_id": str(pack.id), "csrf_token": token})
    assert response.status_code == 303
    (payment,) = _db.session.query(Payment).all()
    assert response.headers["Location"] == payment.checkout_url
    assert payment.checkout_url.startswith(standin.url + "/pay/cs_test_")
    listed = client.get("/billing").get_data(as_text=True)
    assert 'data-status="pending"' in listed


def test_buy_coins_without_csrf_is_refused(client, login, make_user, make_pack):
    pack = make_pack()
    login(make_user())
    response = client.post("/billing/checkout", data={"pack_id": str(pack.id)})
    assert response.status_code == 400
    assert _db.session.query(Payment).count() == 0


def test_stripe_unreachable_shows_a_clear_message(
    app, client, login, make_user, make_pack, closed_port
):
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{closed_port}"
    pack = make_pack()
    login(make_user())
    token = get_csrf_token(client, "/billing")
    response = client.post("/billing/checkout", data={"pack_id": str(pack.id), "csrf_token": token})
    assert response.status_code == 503
    assert "could not be reached" in response.get_data(as_text=True)
    assert _db.session.query(Payment).one().status == "failed"


def test_an_account_on_hold_sees_a_banner_and_cannot_buy(
    client, login, make_user, make_pack, make_worker, make_product
):
    user = make_user(coins=50)
    pack = make_pack()
    product = make_product([make_worker()], price=1)
    _hold(user.id, 10)
    login(user)
    for path in ("/", "/billing"):
        assert 'data-testid="on-hold"' in client.get(path).get_data(as_text=True), path
    token = get_csrf_token(client, "/billing")
    response = client.post("/billing/checkout", data={"pack_id": str(pack.id), "csrf_token": token})
    assert response.status_code == 403
    assert 'data-code="account_on_hold"' in response.get_data(as_text=True)
    page = client.get(f"/buy/{product.id}").get_data(as_text=True)
    key = re.search(r'name="purchase_key" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_token_from(page), "purchase_key": key}
    bought = client.post(f"/buy/{product.id}", data=form)
    assert bought.status_code == 403
    assert "on hold" in bought.get_data(as_text=True)


def test_the_success_page_says_processing_then_paid(client, login, make_user, checkout):
    user = make_user()
    payment = checkout(user, coins=40)
    login(user)
    page = client.get(f"/billing/payments/{payment.id}").get_data(as_text=True)
    assert 'data-testid="processing"' in page and "data-live-partial" in page
    status_url = f"/billing/payments/{payment.id}/status"
    first = client.get(status_url)
    etag = first.headers["ETag"]
    assert client.get(status_url, headers={"If-None-Match": etag}).status_code == 304
    paid = deliver(client, event("checkout.session.completed", session_object(payment)))
    assert paid.status_code == 200
    after = client.get(status_url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    html = after.get_data(as_text=True)
    assert 'data-final="1"' in html and 'data-testid="paid"' in html
    assert 'data-balance="40 coins"' in html


def test_someone_elses_payment_is_404(client, login, make_user, checkout):
    payment = checkout(make_user())
    login(make_user())
    for path in ("", "/status", "/cancelled"):
        assert client.get(f"/billing/payments/{payment.id}{path}").status_code == 404


def test_the_cancel_page_says_nothing_was_charged(client, login, make_user, checkout):
    user = make_user()
    payment = checkout(user)
    login(user)
    page = client.get(f"/billing/payments/{payment.id}/cancelled").get_data(as_text=True)
    assert "nothing was charged" in page and payment.checkout_url in page


def test_without_stripe_the_page_says_payments_are_off(app, client, login, make_user):
    app.config["STRIPE_SECRET_KEY"] = ""
    login(make_user())
    assert 'data-testid="payments-disabled"' in client.get("/billing").get_data(as_text=True)
