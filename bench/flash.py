"""Measurement 7: a flash sale, 64 buyers at once for one product on 20 nodes x 3 slots."""

from __future__ import annotations

import threading
import time

import psycopg
import requests

from bench.client import Purchase, bearer, buy
from bench.figures import Figure, spread, spread_text
from bench.hello_app import COMMITTED

BUYERS = 64
NODES = 20
SLOTS = 3
P50_TARGET_MS = 50.0
P99_TARGET_MS = 250.0
# The rush's sessions (the bulk history's sessions of every product have ended).
_ACTIVE = "status IN ('pending', 'provisioning', 'ready', 'stopping')"


def rush(base_url: str, tokens: list[str], product_id: str) -> list[Purchase]:
    """Every buyer's one purchase, released together by a barrier. Each buyer has just
    loaded the catalogue with its token, as a buyer waiting for a sale does, on the one
    connection it buys on: the rush measures purchases, not handshakes or a token's
    first use in a minute (its last-used time written and committed)."""
    barrier = threading.Barrier(len(tokens))
    done: list[Purchase] = []
    lock = threading.Lock()

    def buyer(token: str) -> None:
        with requests.Session() as http:
            http.get(f"{base_url}/api/v1/vps/products", headers=bearer(token), timeout=10)
            barrier.wait(timeout=60)
            result = buy(http, base_url, token, product_id)
            with lock:
                done.append(result)

    threads = [threading.Thread(target=buyer, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return done


def floor(hello_url: str, dsn: str, tokens: list[str]) -> list[Figure]:
    """The same rush against the bare Flask app (bench/hello_app.py) under the same
    gunicorn configuration: its cheapest answer, then one committed INSERT per order. No
    purchase on this stack and machine can answer faster than these."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor "
            "(id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
        )
    figures = []
    for key, prefix, what in (
        ("flash.floor_bare", "", "its cheapest answer (the JSON order read, a 202)"),
        ("flash.floor_commit", COMMITTED, "one row inserted and committed per order"),
    ):
        answers = rush(hello_url + prefix, tokens, "floor")
        latency = spread([p.latency_ms for p in answers if p.status == 202])
        failed = sum(1 for p in answers if p.status != 202)
        figures.append(
            Figure(
                key=key,
                section="7. Flash sale",
                what=f"the floor: the same rush of {len(tokens)} against the bare Flask app "
                f"under the same gunicorn configuration, {what}",
                value=spread_text(latency) + (f"; {failed} not 202" if failed else ""),
                number=latency["p50"],
                unit="ms p50",
                lower_is_better=True,
            )
        )
    return figures


def check(dsn: str, product_id: str) -> dict[str, int]:
    """What the database holds after the rush: sessions, the fullest node, buyers charged
    without a session."""
    with psycopg.connect(dsn) as conn:
        sessions = conn.execute(
            "SELECT count(*) FROM vps_sessions WHERE product_id = %s AND " + _ACTIVE, (product_id,)
        ).fetchone()[0]
        fullest = conn.execute(
            "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM vps_sessions "
            "WHERE product_id = %s AND " + _ACTIVE + " GROUP BY worker_id) AS per_node",
            (product_id,),
        ).fetchone()[0]
        # A purchase row whose session is not this product's, or a user charged more often
        # than they hold sessions of it.
        unmatched = conn.execute(
            """
            SELECT count(*) FROM coin_transactions t
            JOIN users u ON u.id = t.user_id AND u.email LIKE 'flash-%%'
            WHERE t.kind = 'purchase' AND NOT EXISTS (
                SELECT 1 FROM vps_sessions s WHERE s.id = t.session_id AND s.product_id = %s)
            """,
            (product_id,),
        ).fetchone()[0]
    return {"sessions": sessions, "fullest": fullest, "unmatched": unmatched}


def measure(base_url: str, dsn: str, tokens: list[str], product_id: str) -> list[Figure]:
    """The rush, its latency and rate, and the capacity guarantee checked in the database."""
    purchases = rush(base_url, tokens, product_id)
    statuses: dict[int, int] = {}
    for p in purchases:
        statuses[p.status] = statuses.get(p.status, 0) + 1
    latency = spread([p.latency_ms for p in purchases])
    first = min(p.sent_at for p in purchases)
    last = max(p.answered_at for p in purchases if p.status == 202)
    rate = statuses.get(202, 0) / (last - first) if last > first else 0.0
    found = check(dsn, product_id)
    slots = NODES * SLOTS
    exact = (
        statuses.get(202, 0) == slots
        and statuses.get(409, 0) == BUYERS - slots
        and found["sessions"] == slots
        and found["fullest"] <= SLOTS
        and found["unmatched"] == 0
    )
    section = "7. Flash sale"
    answers = ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
    return [
        Figure(
            key="flash.outcome",
            section=section,
            what=f"{BUYERS} buyers at once, one product on {NODES} nodes x {SLOTS} slots",
            value=f"answers {answers}; {found['sessions']} sessions, fullest node "
            f"{found['fullest']}, {found['unmatched']} charged without a session",
            target=f"exactly {slots} x 202 and {BUYERS - slots} x 409, no node over {SLOTS}, "
            "nobody charged without a slot",
            met=exact,
        ),
        Figure(
            key="flash.latency",
            section=section,
            what=f"purchase-and-create latency in the rush ({BUYERS} buyers, each having "
            "just loaded the catalogue)",
            value=spread_text(latency),
            target=f"p50 < {P50_TARGET_MS:.0f} ms, p99 < {P99_TARGET_MS:.0f} ms",
            met=latency["p50"] < P50_TARGET_MS and latency["p99"] < P99_TARGET_MS,
            number=latency["p50"],
            unit="ms p50",
            lower_is_better=True,
        ),
        Figure(
            key="flash.rate",
            section=section,
            what="purchases per second in the rush (first request sent to last 202 answered)",
            value=f"{rate:.0f} purchases/s ({time.strftime('%H:%M:%S', time.gmtime(first))})",
            number=rate,
            unit="purchases/s",
        ),
    ]
