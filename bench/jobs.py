"""Measurement 6: provision jobs per second through one worker process, nodes answering at once."""

from __future__ import annotations

from bench.client import buy_concurrently, create_times, wait_sessions
from bench.figures import Figure
from bench.stack import Stack

JOBS = 200
WAIT_SECONDS = 120.0


def measure(
    stack: Stack,
    worker_class: str,
    base_url: str,
    node_urls: list[str],
    tokens: list[str],
    product_id: str,
) -> tuple[Figure, list[str]]:
    """Queue ``JOBS`` provision jobs with no worker running, then start one worker of
    ``worker_class`` without the scheduler (only the queued provision jobs run) and time
    them by the node's own clock: first to last ``POST /vm-loso``.

    Returns the figure and the session ids (they still need a watch to become ready).
    """
    purchases = buy_concurrently(base_url, tokens, product_id, total=JOBS, max_seconds=120)
    ids = [p.session_id for p in purchases if p.session_id]
    worker = stack.start_worker(worker_class, "--no-scheduler")
    try:
        wait_sessions(stack.dsn, ids, ("provisioning", "ready", "failed"), WAIT_SECONDS)
    finally:
        stack.stop(worker)
    created = create_times(node_urls)
    times = sorted(created[i] for i in ids if i in created)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    figure = Figure(
        key=f"jobs.{worker_class}",
        section="6. Job throughput",
        what=f"[{worker_class}] provision jobs through one worker process ({len(ids)} queued)",
        value=f"{rate:.1f} jobs/s ({len(times)} created in {times[-1] - times[0]:.2f} s)"
        if len(times) > 1
        else "no jobs ran",
        number=rate,
        unit="jobs/s",
    )
    return figure, ids
