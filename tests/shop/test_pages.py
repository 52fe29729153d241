"""The buyer's pages: catalogue, purchase confirmation, sessions, partials, .rdp, delete."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from tests.helpers import assert_ledger_invariant, csrf_token_from, get_csrf_token
from tests.shop.factories import add_node_session, add_session
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, SessionStatus, User, VpsSession
from vpsshop.services import ledger
from vpsshop.services.log_parser import PASSWORD_MASK

PURCHASE_KEY_RE = re.compile(r'name="purchase_key" type="hidden" value="([^"]+)"')


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', html)


def purchase_form(client, product) -> tuple[str, str]:
    html = client.get(f"/buy/{product.id}").get_data(as_text=True)
    return csrf_token_from(html), PURCHASE_KEY_RE.search(html).group(1)


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="Windows Box")


# ----- catalogue ------------------------------------------------------------------------


def test_catalogue_lists_active_products_with_facts(client, make_worker, make_product):
    worker = make_worker(max_sessions=1)
    make_product([worker], price=7, action=1, duration=30, name="Linux Small")
    make_product([worker], price=9, action=2, name="Windows Forever")
    make_product([worker], price=3, action=3, active=False, name="Hidden Test")
    html = client.get("/").get_data(as_text=True)
    assert "Linux Small" in html and "Windows Forever" in html
    assert "Hidden Test" not in html
    assert "7 coins" in html and "Linux" in html and "30 minutes" in html
    assert "until you delete it" in html
    assert "Sign in to buy" in html  # anonymous: no buy button


def test_catalogue_shows_sold_out_and_buy_buttons(
    client, login, make_user, make_worker, make_product
):
    full = make_worker(max_sessions=1)
    free = make_worker(max_sessions=1)
    sold_out = make_product([full], name="Full One")
    on_sale = make_product([free], name="Free One")
    owner = make_user()
    add_session(owner, sold_out, SessionStatus.PROVISIONING, worker_id=full.id)
    login(make_user(coins=5))
    html = client.get("/").get_data(as_text=True)
    assert "Sold out" in html
    assert f'href="/buy/{on_sale.id}"' in html
    assert f'href="/buy/{sold_out.id}"' not in html


def test_layout_shows_balance_menu_and_sign_out(client, login, make_user):
    user = make_user(coins=42)
    login(user)
    html = client.get("/").get_data(as_text=True)
    assert "42 coins" in html and "My servers" in html and "Sign out" in html
    assert '<script src="/static/js/live.js"' in html
    # Strict CSP: nothing inline.
    assert "<script>" not in html and " style=" not in html and "onclick" not in html


# ----- purchase -------------------------------------------------------------------------


def test_buy_needs_login(client, product):
    response = client.get(f"/buy/{product.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_confirmation_shows_price_and_balances(client, login, make_user, product):
    login(make_user(coins=12))
    response = client.get(f"/buy/{product.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="price">5 coins' in html
    assert 'data-testid="balance-now">12 coins' in html
    assert 'data-testid="balance-after">7 coins' in html
    assert PURCHASE_KEY_RE.search(html)
    assert "Pay and create the server" in html


def test_each_confirmation_page_has_a_new_key(client, login, make_user, product):
    login(make_user(coins=12))
    assert purchase_form(client, product)[1] != purchase_form(client, product)[1]


def test_purchase_charges_once_for_a_double_submit(client, login, make_user, product):
    user = make_user(coins=12)
    login(user)
    token, key = purchase_form(client, product)
    data = {"csrf_token": token, "purchase_key": key}
    first = client.post(f"/buy/{product.id}", data=data)
    second = client.post(f"/buy/{product.id}", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert "/vps/sessions/" in first.headers["Location"]
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 7
    assert _db.session.execute(select(func.count(VpsSession.id))).scalar_one() == 1
    assert_ledger_invariant()


def test_purchase_without_enough_coins_charges_nothing(client, login, make_user, product):
    user = make_user(coins=2)
    login(user)
    html = client.get(f"/buy/{product.id}").get_data(as_text=True)
    assert "You need 3 more coins" in html and "Pay and create" not in html
    token = get_csrf_token(client, "/")
    response = client.post(
        f"/buy/{product.id}", data={"csrf_token": token, "purchase_key": "k" * 32}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 402
    assert "Not enough coins" in html and "Nothing was charged" in html
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 2
    assert _db.session.execute(select(func.count(CoinTransaction.id))).scalar_one() == 1


def test_purchase_when_sold_out_charges_nothing(
    client, login, make_user, make_worker, make_product
):
    worker = make_worker(max_sessions=1)
    product = make_product([worker])
    add_session(make_user(), product, SessionStatus.PROVISIONING, worker_id=worker.id)
    user = make_user(coins=20)
    login(user)
    html = client.get(f"/buy/{product.id}").get_data(as_text=True)
    assert "Sold out" in html
    token = get_csrf_token(client, "/")
    response = client.post(
        f"/buy/{product.id}", data={"csrf_token": token, "purchase_key": "s" * 32}
    )
    assert response.status_code == 409
    assert "Sold out" in response.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 20


def test_purchase_post_without_csrf_is_400(client, login, make_user, product):
    user = make_user(coins=20)
    login(user)
    response = client.post(f"/buy/{product.id}", data={"purchase_key": "a" * 32})
    assert response.status_code == 400
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 20


@pytest.mark.parametrize("key", ["", "short", "bad key with spaces!!!!!!!!!", "x" * 65])
def test_purchase_with_bad_key_is_400(client, login, make_user, product, key):
    user = make_user(coins=20)
    login(user)
    token = get_csrf_token(client, "/")
    response = client.post(f"/buy/{product.id}", data={"csrf_token": token, "purchase_key": key})
    assert response.status_code == 400
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins == 20


@pytest.mark.parametrize("path", ["/buy/not-a-uuid", "/buy/6f1c2d9e-0000-4000-8000-000000000001"])
def test_buy_unknown_product_is_404(client, login, make_user, path):
    login(make_user())
    response = client.get(path)
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_buy_inactive_product_is_404(client, login, make_user, make_worker, make_product):
    product = make_product([make_worker()], active=False)
    login(make_user(coins=50))
    assert client.get(f"/buy/{product.id}").status_code == 404


# ----- sessions -------------------------------------------------------------------------


def test_sessions_list_newest_first_with_badges(client, login, make_user, product):
    user = make_user()
    now = datetime.now(UTC)
    old = add_session(user, product, SessionStatus.DELETED, created_at=now - timedelta(hours=2))
    new = add_session(user, product, SessionStatus.PROVISIONING, created_at=now)
    other = add_session(make_user(), product, SessionStatus.PENDING)
    login(user)
    html = client.get("/vps/sessions").get_data(as_text=True)
    assert html.index(str(new.id)) < html.index(str(old.id))
    assert str(other.id) not in html
    assert "badge-provisioning" in html and "badge-deleted" in html


def test_sessions_list_empty(client, login, make_user):
    login(make_user())
    assert "no servers yet" in client.get("/vps/sessions").get_data(as_text=True)


def test_pending_session_page(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.PENDING)
    login(user)
    response = client.get(f"/vps/sessions/{session.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert 'data-status="pending"' in html and 'data-final="0"' in html
    assert "step-done" in html and 'aria-current="step"' in html
    assert "data-elapsed-since" in html and "1 min" in html
    assert 'data-testid="credentials"' not in html
    assert "Delete this server" in html
    assert "The log starts once a node has accepted the server." in html
    assert "Refresh this page" in html  # works without JavaScript


def test_ready_session_page_shows_credentials_and_rdp(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.READY)
    login(user)
    html = client.get(f"/vps/sessions/{session.id}").get_data(as_text=True)
    assert 'data-testid="credentials"' in html
    assert "203.0.113.7" in html and "3389" in html and "Administrator" in html
    # The password sits in a closed <details>: hidden until revealed.
    assert re.search(r"<details class=\"secret\">\s*<summary>Show password</summary>", html)
    assert "s3cret-Pa55!" in html
    assert f"/vps/sessions/{session.id}/connection.rdp" in html
    assert "Ready after 1 min 0 s".lower() in html.lower()


def test_linux_session_has_no_rdp(client, login, make_user, make_worker, make_product):
    user = make_user()
    product = make_product([make_worker()], action=1)
    session = add_session(user, product, SessionStatus.READY, rdp_port=22, rdp_user="root")
    login(user)
    html = client.get(f"/vps/sessions/{session.id}").get_data(as_text=True)
    assert "connection.rdp" not in html
    assert client.get(f"/vps/sessions/{session.id}/connection.rdp").status_code == 404


def test_failed_session_shows_error_and_refund(client, login, make_user, product):
    user = make_user(coins=5)
    session = add_session(
        user, product, SessionStatus.FAILED, error="Every node refused.", worker_route="moo_1"
    )
    ledger.refund(session, "test refund")
    _db.session.commit()
    login(user)
    html = client.get(f"/vps/sessions/{session.id}").get_data(as_text=True)
    assert "Every node refused." in html
    assert "Refunded 5 coins." in html
    assert 'data-final="1"' in html and "step-failed" in html
    assert "Delete this server" not in html
    assert "data-elapsed-since" not in html


def test_status_partial_is_the_card_alone(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.PROVISIONING)
    login(user)
    response = client.get(f"/vps/sessions/{session.id}/status")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="session-status"')
    assert "<html" not in html and 'data-status="provisioning"' in html
    assert 'data-version="' in html


def test_rdp_file_has_address_and_user_but_no_password(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.READY)
    login(user)
    response = client.get(f"/vps/sessions/{session.id}/connection.rdp")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "application/x-rdp"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "full address:s:203.0.113.7:3389" in body
    assert "username:s:Administrator" in body
    assert "s3cret" not in body and "password" not in body.lower()


def test_rdp_file_needs_a_ready_session(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.PROVISIONING)
    login(user)
    assert client.get(f"/vps/sessions/{session.id}/connection.rdp").status_code == 404


def test_rdp_values_cannot_add_lines(client, login, make_user, product):
    user = make_user()
    session = add_session(
        user, product, SessionStatus.READY, rdp_user="admin\r\nalternate shell:s:cmd"
    )
    login(user)
    body = client.get(f"/vps/sessions/{session.id}/connection.rdp").get_data(as_text=True)
    assert "\nalternate shell" not in body


SESSION_PATHS = [
    "/vps/sessions/{id}",
    "/vps/sessions/{id}/status",
    "/vps/sessions/{id}/log",
    "/vps/sessions/{id}/connection.rdp",
    "/vps/sessions/{id}/delete",
]


@pytest.mark.parametrize("path", SESSION_PATHS)
def test_someone_elses_session_is_404_like_a_missing_one(client, login, make_user, product, path):
    session = add_session(make_user(), product, SessionStatus.READY)
    login(make_user())
    client.get("/")  # shows and so drops the "Signed in." flash
    theirs = client.get(path.format(id=session.id))
    missing = client.get(path.format(id=uuid.uuid4()))
    malformed = client.get(path.format(id="not-a-uuid"))
    assert theirs.status_code == missing.status_code == malformed.status_code == 404
    # Same page, byte for byte, but for the per-request CSRF token of the sign-out form.
    assert without_csrf(theirs.get_data(as_text=True)) == without_csrf(
        missing.get_data(as_text=True)
    )
    assert "s3cret" not in theirs.get_data(as_text=True)


@pytest.mark.parametrize("path", SESSION_PATHS + ["/vps/sessions"])
def test_session_pages_need_login(client, make_user, product, path):
    session = add_session(make_user(), product, SessionStatus.READY)
    response = client.get(path.format(id=session.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_delete_confirmation_then_post(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.READY)
    login(user)
    page = client.get(f"/vps/sessions/{session.id}/delete")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Yes, delete this server" in html
    _db.session.expire_all()
    assert _db.session.get(VpsSession, session.id).status == SessionStatus.READY  # GET is safe
    response = client.post(
        f"/vps/sessions/{session.id}/delete", data={"csrf_token": csrf_token_from(html)}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/vps/sessions/{session.id}")
    _db.session.expire_all()
    assert _db.session.get(VpsSession, session.id).status in (
        SessionStatus.STOPPING,
        SessionStatus.DELETED,
    )


def test_delete_without_csrf_is_400_and_changes_nothing(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.READY)
    login(user)
    response = client.post(f"/vps/sessions/{session.id}/delete", data={})
    assert response.status_code == 400
    _db.session.expire_all()
    assert _db.session.get(VpsSession, session.id).status == SessionStatus.READY


def test_delete_someone_elses_session_is_404(client, login, make_user, product):
    session = add_session(make_user(), product, SessionStatus.READY)
    login(make_user())
    token = get_csrf_token(client, "/")
    response = client.post(f"/vps/sessions/{session.id}/delete", data={"csrf_token": token})
    assert response.status_code == 404
    _db.session.expire_all()
    assert _db.session.get(VpsSession, session.id).status == SessionStatus.READY


def test_error_pages_share_the_layout(client):
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "Not found" in html and 'class="site-header"' in html


def test_log_partial_is_escaped_text_with_the_password_masked(
    client, login, make_user, make_sim_node, make_worker, make_product
):
    node = make_sim_node(extra_log_lines=["<script>alert(1)</script>"])
    user = make_user()
    session = add_node_session(user, make_product([make_worker(node.url)]))
    login(user)
    response = client.get(f"/vps/sessions/{session.id}/log")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-cache"
    assert html.lstrip().startswith('<div id="session-log"')
    assert "Starting VM" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert node.vm(session.worker_route)["password"] not in html
    assert escape(PASSWORD_MASK) in html
    assert node.url not in html


# Spellings the parser reads as the password that the page's old regex let through.
EXTRA_PASSWORD_LINES = {
    "rdp_password: Xk4-underscore": "Xk4-underscore",
    "RDPPassword: Xk4-joined": "Xk4-joined",
    "[12:00:02] - RDP-Password = Xk4-dashed": "Xk4-dashed",
    "Pass_Word: Xk4-split": "Xk4-split",
}


def test_log_panel_masks_every_password_spelling_the_parser_reads(
    client, login, make_user, make_sim_node, make_worker, make_product
):
    node = make_sim_node(extra_log_lines=list(EXTRA_PASSWORD_LINES))
    user = make_user()
    session = add_node_session(user, make_product([make_worker(node.url)]))
    login(user)
    html = client.get(f"/vps/sessions/{session.id}/log").get_data(as_text=True)
    assert "Starting VM" in html
    for line, secret in EXTRA_PASSWORD_LINES.items():
        assert secret not in html, line
    assert html.count(escape(PASSWORD_MASK)) == len(EXTRA_PASSWORD_LINES) + 1


def test_catalogue_follows_sign_in_and_mount_point(
    app, client, login, make_user, make_worker, make_product
):
    product = make_product([make_worker()], name="Shared One")
    buy = f'href="/buy/{product.id}"'
    for _ in range(2):
        assert "Sign in to buy" in client.get("/").get_data(as_text=True)
    login(make_user(coins=5))
    for _ in range(2):
        html = client.get("/").get_data(as_text=True)
        assert buy in html and "Sign in to buy" not in html
    mounted = client.get("/", base_url="http://localhost/shop").get_data(as_text=True)
    assert f'href="/shop/buy/{product.id}"' in mounted
    assert 'href="/shop/vps/sessions"' in mounted
    assert buy not in mounted


def test_a_flashed_message_shows_once_on_the_catalogue(client, login, make_user, product):
    user = make_user()
    client.get("/")
    login(user)
    first = client.get("/").get_data(as_text=True)
    assert "Signed in" in first
    second = client.get("/").get_data(as_text=True)
    assert "Signed in" not in second
    assert user.email in second


@pytest.mark.parametrize("status", [SessionStatus.PENDING, SessionStatus.READY])
def test_the_session_page_names_the_products_system(client, login, make_user, product, status):
    # It once read "Server <id> · · 5 coins": a cached view of the row had no os_name.
    user = make_user()
    session = add_session(user, product, status)
    login(user)
    html = client.get(f"/vps/sessions/{session.id}").get_data(as_text=True)
    assert f"<code>{session.id}</code> · Windows · 5 coins" in html
    assert "· ·" not in html
