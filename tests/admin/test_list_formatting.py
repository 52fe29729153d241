"""Admin lists read as a person reads: moments as <time>, linked users and sessions, status
badges, audit details as a list, search by e-mail on sessions and the ledger."""

from __future__ import annotations

import re

from vpsshop.services import audit, ledger

RAW_TIMESTAMP = re.compile(r">\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+\+00:00")
TIME_TAG = re.compile(
    r'<time datetime="[^"]+\+00:00" data-local-time="datetime" title="[^"]+ UTC">'
)


def test_lists_show_times_links_and_badges(
    admin_client, db, admin, make_user, make_worker, make_product, make_session
):
    alice = make_user("alice@example.com", coins=10)
    bob = make_user("bob@example.com", coins=10)
    worker = make_worker()
    product = make_product([worker], price=5)
    session = make_session(alice, product, worker, status="ready", ready=True)
    make_session(bob, product, worker, status="failed")
    ledger.sub(alice.id, 5, reason="paid", actor_id=admin.id)
    audit.record(admin.id, "worker.update", "worker", worker.id, max_sessions=4, name="n<1>")
    db.session.commit()

    for path in ("/admin/ledger/", "/admin/sessions/", "/admin/audit/", "/admin/users/"):
        html = admin_client.get(path).get_data(as_text=True)
        assert TIME_TAG.search(html), path
        assert not RAW_TIMESTAMP.search(html), path
        assert "/admin-assets/admin.css" in html and "/static/js/local-time.js" in html

    sessions = admin_client.get("/admin/sessions/").get_data(as_text=True)
    assert '<span class="badge badge-success">ready</span>' in sessions
    assert '<span class="badge badge-danger">failed</span>' in sessions
    assert f'href="/vps/sessions/{session.id}"><code title="{session.id}">' in sessions
    assert 'href="/admin/users/?search=alice@example.com">alice@example.com</a>' in sessions

    ledger_page = admin_client.get("/admin/ledger/").get_data(as_text=True)
    assert 'href="/admin/users/?search=admin@example.com">admin@example.com</a>' in ledger_page

    audit_page = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert "<dt>max_sessions</dt><dd>4</dd>" in audit_page and "<dd>n&lt;1&gt;</dd>" in audit_page
    assert "{&#34;max_sessions" not in audit_page and '{"max_sessions' not in audit_page
    assert f'href="/admin/workers/edit/?id={worker.id}"' in audit_page

    workers = admin_client.get("/admin/workers/").get_data(as_text=True)
    assert '<span class="badge badge-success">active</span>' in workers


def test_sessions_and_ledger_are_searched_by_email(
    admin_client, make_user, make_worker, make_product, make_session
):
    alice = make_user("alice@example.com", coins=3)
    bob = make_user("bob@example.com", coins=3)
    worker = make_worker()
    product = make_product([worker])
    make_session(alice, product, worker)
    make_session(bob, product, worker)
    for path in ("/admin/sessions/", "/admin/ledger/"):
        html = admin_client.get(f"{path}?search=alice").get_data(as_text=True)
        assert ">alice@example.com<" in html and ">bob@example.com<" not in html, path
