"""Measurement 4: 100 viewers polling one session's log; how often its node is asked."""

from __future__ import annotations

import time

from bench.client import bearer, node_requests
from bench.figures import Figure, load_text
from bench.load import run_load
from bench.poll import check

VIEWERS = 100
SECONDS = 10
MIN_GAP_SECONDS = 2.0
# Clock granularity between the web's cache expiry and the node's own timestamp.
GAP_SLACK_SECONDS = 0.05


def measure(
    wrk: str | None, base_url: str, node_urls: list[str], token: str, session_id: str, route: str
) -> list[Figure]:
    """Load the log endpoint for 10 s; count the node's log calls for that route."""
    url = f"{base_url}/api/v1/vps/sessions/{session_id}/log"
    headers = bearer(token)
    check(url, headers)
    started = time.time()
    result = run_load(wrk, "log", url, connections=VIEWERS, seconds=SECONDS, headers=headers)
    ended = time.time()
    times = sorted(
        r["time"]
        for r in node_requests(node_urls, "log")
        if r["route"] == route and started <= r["time"] <= ended
    )
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    min_gap = min(gaps) if gaps else float("inf")
    per_2s = len(times) / (ended - started) * MIN_GAP_SECONDS
    return [
        Figure(
            key="log_proxy.node_calls",
            section="4. Log proxy",
            what=f"{VIEWERS} viewers polling one session's log for {SECONDS} s",
            value=(
                f"{len(times)} node log calls in {ended - started:.1f} s "
                f"({per_2s:.2f} per 2 s; closest two {min_gap:.2f} s apart); "
                f"viewers got {load_text(result)}"
            ),
            target="<= 1 node call per 2 s",
            met=min_gap >= MIN_GAP_SECONDS - GAP_SLACK_SECONDS and result.errors == 0,
            number=per_2s,
            unit="calls per 2 s",
            lower_is_better=True,
        )
    ]
