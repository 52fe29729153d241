"""Measurement 3: purchase latency, 202 to the node's ``POST /vm-loso``, and to ``ready``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from bench.client import Purchase, buy, buy_concurrently, create_times, wait_sessions
from bench.figures import Figure, spread, spread_text

BUYERS = 16
PURCHASES = 200
IDLE_PURCHASES = 20
# Between idle purchases: long enough for the worker to finish the job before the next.
IDLE_GAP_SECONDS = 0.4
BUY_MAX_SECONDS = 120.0
READY_TIMEOUT = 90.0
NODE_TARGET_MS = 50.0


@dataclass
class PurchaseRun:
    """Purchases of one phase with what the node and the database saw of them."""

    purchases: list[Purchase]
    to_node_ms: list[float]
    to_ready_ms: list[float]
    statuses: dict[str, int]

    @property
    def latencies(self) -> list[float]:
        return [p.latency_ms for p in self.purchases if p.status == 202]

    @property
    def refused(self) -> int:
        return sum(1 for p in self.purchases if p.status != 202)


def follow(dsn: str, node_urls: list[str], purchases: list[Purchase]) -> PurchaseRun:
    """Wait for the sessions to be ready; match each with its node call by session id."""
    ok = [p for p in purchases if p.session_id]
    rows = wait_sessions(dsn, [p.session_id for p in ok], ("ready", "failed"), READY_TIMEOUT)
    created = create_times(node_urls)
    to_node = [
        (created[p.session_id] - p.answered_at) * 1000 for p in ok if p.session_id in created
    ]
    to_ready = [
        (rows[p.session_id][1] - p.answered_at) * 1000
        for p in ok
        if p.session_id in rows and rows[p.session_id][1] is not None
    ]
    statuses: dict[str, int] = {}
    for status, _ready in rows.values():
        statuses[status] = statuses.get(status, 0) + 1
    return PurchaseRun(purchases, to_node, to_ready, statuses)


def idle_purchases(base_url: str, tokens: list[str], product_id: str) -> list[Purchase]:
    """One purchase at a time with the worker idle in between."""
    done = []
    with requests.Session() as http:
        for index in range(IDLE_PURCHASES):
            done.append(buy(http, base_url, tokens[index % len(tokens)], product_id))
            time.sleep(IDLE_GAP_SECONDS)
    return done


def measure_worker_class(
    base_url: str, dsn: str, node_urls: list[str], tokens: list[str], product_id: str
) -> tuple[PurchaseRun, PurchaseRun]:
    """Idle purchases, then 200 by 16 concurrent buyers, with the running worker."""
    idle = follow(dsn, node_urls, idle_purchases(base_url, tokens, product_id))
    busy_purchases = buy_concurrently(
        base_url, tokens[:BUYERS], product_id, total=PURCHASES, max_seconds=BUY_MAX_SECONDS
    )
    return idle, follow(dsn, node_urls, busy_purchases)


def figures(
    worker_class: str, idle: PurchaseRun, busy: PurchaseRun, procfile_class: str
) -> list[Figure]:
    """The purchase-path rows of one worker class; the target is the Procfile's class's
    (the other class is measured beside it for the choice)."""
    deployed = worker_class == procfile_class
    prefix = f"purchase.{worker_class}"
    section = "3. Purchase path"
    latency = spread(busy.latencies)
    to_node_idle = spread(idle.to_node_ms)
    to_node_busy = spread(busy.to_node_ms)
    ready = spread(busy.to_ready_ms)
    notes = f"; {busy.refused} refused" if busy.refused else ""
    finished = ", ".join(f"{n} {s}" for s, n in sorted(busy.statuses.items()))
    return [
        Figure(
            key=f"{prefix}.latency",
            section=section,
            what=f"[{worker_class}] purchase-and-create, {BUYERS} concurrent buyers",
            value=spread_text(latency) + notes,
            number=latency["p50"],
            unit="ms p50",
            lower_is_better=True,
        ),
        Figure(
            key=f"{prefix}.to_node_idle",
            section=section,
            what=f"[{worker_class}] 202 -> node gets POST /vm-loso, idle worker",
            value=spread_text(to_node_idle),
            target=f"p50 < {NODE_TARGET_MS:.0f} ms"
            if deployed
            else f"(comparison: the Procfile runs {procfile_class})",
            met=to_node_idle["p50"] < NODE_TARGET_MS if deployed and to_node_idle["n"] else None,
            number=to_node_idle["p50"],
            unit="ms p50",
            lower_is_better=True,
        ),
        Figure(
            key=f"{prefix}.to_node",
            section=section,
            what=f"[{worker_class}] 202 -> node gets POST /vm-loso, {PURCHASES} purchases "
            f"by {BUYERS} buyers",
            value=spread_text(to_node_busy),
            number=to_node_busy["p50"],
            unit="ms p50",
            lower_is_better=True,
        ),
        Figure(
            key=f"{prefix}.to_ready",
            section=section,
            what=f"[{worker_class}] 202 -> session ready (boot 0), same {PURCHASES}",
            value=spread_text(ready) + f" ({finished})",
            number=ready["p50"],
            unit="ms p50",
            lower_is_better=True,
        ),
    ]
