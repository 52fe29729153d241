"""Measurement 8: a thousand VMs booting at once, watched by one worker process."""

from __future__ import annotations

import math
import threading
import time

import psycopg
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry

from bench.client import buy_concurrently, create_times, node_requests
from bench.figures import Figure, spread, spread_text
from vpsshop.queue import WATCH_QUEUE_SUFFIX

BOOT_SECONDS = 60.0
WATCH_INTERVAL = 3.0  # the stack runs with the default WATCH_INTERVAL_SECONDS
NODES = 20
HEADROOM = 0.75  # a worker process planned to be busy at most this share of the time
QUEUE = "vpsshop"  # the stack's RQ_QUEUE_NAME (the default)
# Ticks run from the watch queue, and from the lifecycle queue when due again at once.
TICK_QUEUES = (QUEUE + WATCH_QUEUE_SUFFIX, QUEUE)


class RedisMemory:
    """Samples Redis's used_memory once a second in a thread, until stopped."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.start = self.client.info("memory")["used_memory"]
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(1.0):
            self.peak = max(self.peak, self.client.info("memory")["used_memory"])

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.client.close()


def _tick_seconds(redis_url: str, since: float) -> list[float]:
    """How long each node watch tick that started after ``since`` ran (RQ's own record
    of finished jobs, kept for the jobs' result_ttl)."""
    client = redis.Redis.from_url(redis_url)
    try:
        ids = [
            i
            for queue in TICK_QUEUES
            for i in FinishedJobRegistry(queue, connection=client).get_job_ids()
            if i.startswith("watchnode-")
        ]
        seconds = []
        for job in Job.fetch_many(ids, connection=client):
            if job is None or job.started_at is None or job.ended_at is None:
                continue
            if job.started_at.timestamp() >= since:
                seconds.append((job.ended_at - job.started_at).total_seconds())
        return seconds
    finally:
        client.close()


def _sessions(dsn: str, ids: list[str], timeout: float) -> dict[str, tuple[str, str, float]]:
    """{id: (status, route, ready_at epoch)} once none is pending or provisioning."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT id::text, status, worker_route, extract(epoch FROM ready_at) "
                "FROM vps_sessions WHERE id = ANY(%s::uuid[])",
                (ids,),
            ).fetchall()
            waiting = sum(1 for r in rows if r[1] in ("pending", "provisioning"))
            if not waiting or time.monotonic() > deadline:
                return {r[0]: (r[1], r[2], float(r[3]) if r[3] else math.nan) for r in rows}
            time.sleep(1.0)


def measure(
    base_url: str,
    dsn: str,
    redis_url: str,
    node_urls: list[str],
    tokens: list[str],
    product_id: str,
    sessions: int,
) -> tuple[list[Figure], list[str]]:
    """Buy ``sessions`` of the boot product, wait for them all, and check every session's
    reads against its node's own clock. Returns the figures and the ready session ids."""
    memory = RedisMemory(redis_url)
    started = time.time()
    try:
        purchases = buy_concurrently(base_url, tokens, product_id, total=sessions, max_seconds=180)
        ids = [p.session_id for p in purchases if p.session_id]
        rows = _sessions(dsn, ids, BOOT_SECONDS + 240)
    finally:
        memory.stop()
    finished = time.time()
    created = create_times(node_urls)
    reads: dict[str, list[float]] = {}
    for record in node_requests(node_urls, "log"):
        reads.setdefault(record.get("route"), []).append(record["time"])
    gaps, late, statuses = [], [], {}
    for sid, (status, route, ready_at) in rows.items():
        statuses[status] = statuses.get(status, 0) + 1
        if sid not in created or status != "ready":
            continue
        times = sorted(t for t in reads.get(route, []) if t <= ready_at + 0.5)
        points = [created[sid], *times]
        gaps.append(max(b - a for a, b in zip(points, points[1:], strict=False)))
        late.append(ready_at - (created[sid] + BOOT_SECONDS))
    ticks = _tick_seconds(redis_url, started)
    window = finished - started
    busy = sum(ticks) / window if window else 0.0
    all_reads = sorted(t for times in reads.values() for t in times if t >= started)
    read_rate = len(all_reads) / (all_reads[-1] - all_reads[0]) if len(all_reads) > 1 else 0.0
    per_tick = spread([seconds * 1000 for seconds in ticks])
    needed = max(1, math.ceil(busy * 10 / HEADROOM))
    gap_s = spread(gaps)
    late_s = spread(late)
    section = "8. A thousand VMs booting"
    done = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    ready_ids = [sid for sid, row in rows.items() if row[0] == "ready"]
    figures = [
        Figure(
            key="boot.read_gap",
            section=section,
            what=f"{len(ids)} sessions booting at once ({NODES} nodes, {BOOT_SECONDS:.0f} s boot), "
            "one worker process: longest time between two reads of a session's log (from its "
            "create to ready)",
            value=f"max {max(gaps, default=math.nan):.2f} s; "
            + spread_text(gap_s, "s")
            + f" ({done})",
            target=f"every session read at least every {2 * WATCH_INTERVAL:.0f} s "
            "(2 x WATCH_INTERVAL_SECONDS)",
            met=bool(gaps) and max(gaps) <= 2 * WATCH_INTERVAL and len(gaps) == len(ids),
            number=max(gaps, default=math.nan),
            unit="s max",
            lower_is_better=True,
        ),
        Figure(
            key="boot.ready_lag",
            section=section,
            what="ready after the node's log shows the details (node clock to ready_at)",
            value=f"max {max(late, default=math.nan):.2f} s; " + spread_text(late_s, "s"),
            target=f"each within {WATCH_INTERVAL:.0f} s (one WATCH_INTERVAL_SECONDS)",
            met=bool(late) and max(late) <= WATCH_INTERVAL and len(late) == len(ids),
            number=max(late, default=math.nan),
            unit="s max",
            lower_is_better=True,
        ),
        Figure(
            key="boot.throughput",
            section=section,
            what="log reads and node watch jobs through the one worker process",
            value=f"{read_rate:.0f} log reads/s; {len(ticks)} node ticks in {window:.0f} s "
            f"({len(ticks) / window:.1f} jobs/s), a tick "
            + spread_text(per_tick)
            + f"; worker busy {busy:.0%} of the time on ticks",
            number=read_rate,
            unit="reads/s",
        ),
        Figure(
            key="boot.redis_memory",
            section=section,
            what="Redis memory during the boot (used_memory)",
            value=f"{memory.start / 2**20:.1f} MiB before, peak {memory.peak / 2**20:.1f} MiB "
            f"(+{(memory.peak - memory.start) / max(1, len(ids)) / 1024:.1f} KiB per session)",
            number=memory.peak / 2**20,
            unit="MiB peak",
            lower_is_better=True,
        ),
        Figure(
            key="boot.workers_for_10000",
            section=section,
            what="worker processes 10,000 booting sessions would need",
            value=f"{needed} (10 x this run's busy share {busy:.0%}, at most "
            f"{HEADROOM:.0%} busy each)",
            number=needed,
            unit="processes",
            lower_is_better=True,
        ),
    ]
    return figures, ready_ids
