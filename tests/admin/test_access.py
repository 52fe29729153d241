"""Access matrix: every /admin URL for anonymous visitors, plain users and admins."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

# Vendor files and our admin script are public, like any static file.
STATIC_ENDPOINTS = {"admin.static", "vpsshop_admin_assets.static"}
# Which model id the ``?id=`` of each view's URLs names.
VIEW_IDS = {
    "workers": "worker",
    "products": "product",
    "users": "user",
    "sessions": "session",
    "ledger": "transaction",
    "audit": "audit",
}


@pytest.fixture
def rows(admin, make_user, make_worker, make_product, make_session, db):
    """One row of every kind, so that URLs with ids name real records."""
    from vpsshop.services import audit, ledger

    customer = make_user("customer@example.com", coins=20)
    worker = make_worker()
    product = make_product([worker])
    session = make_session(customer, product, worker)
    entry = ledger.add(customer.id, 1, reason="matrix", actor_id=admin.id)
    note = audit.record(admin.id, "worker.update", "worker", worker.id)
    db.session.commit()
    return {
        "worker": worker.id,
        "product": product.id,
        "user": customer.id,
        "session": session.id,
        "transaction": entry.id,
        "audit": note.id,
    }


def admin_urls(app, rows) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every admin rule, URL parameters filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in STATIC_ENDPOINTS:
            continue
        url = rule.rule.replace("<export_type>", "csv")
        assert "<" not in url, f"unfilled parameter in {rule.rule}"
        view = rule.endpoint.split(".")[0]
        if view in VIEW_IDS:
            url += f"?id={rows[VIEW_IDS[view]]}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            urls.append((method, url, rule.endpoint))
    return urls


def test_matrix_covers_every_admin_view(app, rows):
    endpoints = {endpoint.split(".")[0] for _, _, endpoint in admin_urls(app, rows)}
    assert endpoints >= {
        "admin",
        "workers",
        "products",
        "users",
        "ledger",
        "sessions",
        "jobs",
        "audit",
    }


def test_anonymous_goes_to_login_with_safe_next(app, rows, anon_client):
    for method, url, _endpoint in admin_urls(app, rows):
        if method == "GET":
            response = anon_client.get(url)
        else:
            response = anon_client.post(url, {"id": "x"})
        assert response.status_code == 302, (method, url, response.status_code)
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", (method, url)
        next_path = parse_qs(location.query)["next"][0]
        expected = url if method == "GET" else "/admin/"
        assert next_path == expected, (method, url, next_path)


def test_plain_user_gets_403_everywhere(app, rows, user_client):
    for method, url, _endpoint in admin_urls(app, rows):
        if method == "GET":
            response = user_client.get(url)
        else:
            response = user_client.post(url, {"id": "x"})
        assert response.status_code == 403, (method, url, response.status_code)


def test_admin_is_let_in_everywhere(app, rows, admin_client):
    for method, url, _endpoint in admin_urls(app, rows):
        if method == "GET":
            response = admin_client.get(url)
        else:
            response = admin_client.post(url, {"id": "not-an-id"})
        assert response.status_code not in (401, 403), (method, url)
        assert response.status_code < 500, (method, url, response.status_code)
        if response.status_code == 302:
            assert not response.headers["Location"].startswith("/login"), (method, url)


def test_next_is_never_an_external_url(anon_client):
    response = anon_client.get("/admin//evil.example.com/")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        next_values = parse_qs(urlsplit(response.headers["Location"]).query).get("next", [])
        assert all(value.startswith("/") and not value.startswith("//") for value in next_values)


def test_admin_pages_carry_a_strict_csp_with_nonce(admin_client):
    response = admin_client.get("/admin/workers/")
    policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    body = response.get_data(as_text=True)
    assert f'nonce="{nonce}"' in body
    assert "cdn" not in body.lower()
    # No inline event handlers on our pages: the CSP would block them.
    assert "onclick=" not in body
