"""Every admin export read whole through a real server (the test client never streamed it)."""

from __future__ import annotations

import csv
import html
import io
import re

import requests

from tests.helpers import DEFAULT_PASSWORD, csrf_token_from
from vpsshop.services import ledger, vouchers

_EXPORT_LINK = re.compile(r'href="([^"]*/export/[^"]*)"')


def signed_in_http(base_url: str, email: str) -> requests.Session:
    """A requests session signed in through the real login form of a live server."""
    http = requests.Session()
    token = csrf_token_from(http.get(f"{base_url}/login", timeout=10).text)
    answer = http.post(
        f"{base_url}/login",
        data={"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return http


def admin_list_paths(app) -> list[str]:
    """The list page of every admin model view, from the app's URL map."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.endswith(".index_view") and rule.rule.startswith("/admin/")
    )


def test_every_export_link_downloads_whole(
    live_server, app, db, database, admin, make_user, make_worker, make_product, make_session
):
    alice = make_user("alice@example.com", coins=10)
    ledger.sub(alice.id, 4, reason="=cmd", actor_id=admin.id)
    db.session.commit()
    (voucher,) = vouchers.create_vouchers(coins=3, note="=HYPERLINK()", actor_id=admin.id)
    vouchers.redeem(make_user("bob@example.com").id, voucher.code)
    db.session.commit()
    worker = make_worker()
    make_session(alice, make_product([worker]), worker)
    http = signed_in_http(live_server.url, admin.email)

    downloaded = {}
    for path in admin_list_paths(app):
        page = http.get(live_server.url + path, timeout=10)
        assert page.status_code == 200, (path, page.status_code)
        for link in _EXPORT_LINK.findall(page.text):
            url = html.unescape(link)
            # requests raises ChunkedEncodingError when the server drops a streamed body.
            answer = http.get(live_server.url + url, timeout=30)
            assert answer.status_code == 200, (url, answer.status_code)
            downloaded[url] = list(csv.reader(io.StringIO(answer.text)))
    assert any("/admin/ledger/export/csv/" in url for url in downloaded), downloaded
    for url, rows in downloaded.items():
        assert len(rows) > 1, (database, url, rows)  # the header and the data rows
    ledger_rows = next(rows for url, rows in downloaded.items() if "/ledger/" in url)
    assert [row[1] for row in ledger_rows[1:]] == ["bob@example.com"] + ["alice@example.com"] * 2
    assert ledger_rows[2][6] == "admin@example.com"  # the debit's admin, newest first
    assert ledger_rows[2][5] == "'=cmd"  # a formula is defused
    voucher_rows = next(rows for url, rows in downloaded.items() if "/vouchers/" in url)
    assert voucher_rows[1][0] == voucher.code and voucher_rows[1][6] == "'=HYPERLINK()"
    redeemed = next(rows for url, rows in downloaded.items() if "/voucher_redemptions/" in url)
    assert redeemed[1][1:] == [voucher.code, "bob@example.com", "3"]
