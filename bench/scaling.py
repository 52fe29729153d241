"""Measurement 5: purchase latency and the admin lists, small versus large data."""

from __future__ import annotations

from dataclasses import dataclass

from bench.client import buy_concurrently, wait_sessions
from bench.figures import Figure, load_text, spread, spread_text
from bench.load import LoadResult, run_load
from bench.poll import check

PAGE_CONNECTIONS = 4
PAGE_SECONDS = 4
PURCHASES = 100
TARGET = 1.5


@dataclass
class ScaleRun:
    """One data size's figures."""

    label: str
    counts: dict[str, int]
    sessions_page: LoadResult
    workers_page: LoadResult
    purchase_ms: dict[str, float]


def measure(
    wrk: str | None,
    label: str,
    counts: dict[str, int],
    base_url: str,
    dsn: str,
    admin_headers: dict[str, str],
    tokens: list[str],
    product_id: str,
) -> ScaleRun:
    """Both admin list pages under light load, then 100 purchases by 16 buyers."""
    pages = []
    for path in ("/admin/sessions/", "/admin/workers/"):
        check(base_url + path, admin_headers)
        pages.append(
            run_load(
                wrk,
                path,
                base_url + path,
                connections=PAGE_CONNECTIONS,
                seconds=PAGE_SECONDS,
                headers=admin_headers,
            )
        )
    purchases = buy_concurrently(base_url, tokens, product_id, total=PURCHASES, max_seconds=90)
    ids = [p.session_id for p in purchases if p.session_id]
    # Let the jobs finish so that the next phase starts with an idle worker.
    wait_sessions(dsn, ids, ("ready", "failed"), 90)
    latency = spread([p.latency_ms for p in purchases if p.status == 202])
    return ScaleRun(label, counts, pages[0], pages[1], latency)


def _size(run: ScaleRun) -> str:
    c = run.counts
    return (
        f"{c['workers']} workers / {c['vps_sessions']:,} sessions / "
        f"{c['coin_transactions']:,} ledger rows"
    )


def figures(small: ScaleRun, large: ScaleRun) -> list[Figure]:
    """Large over small for p50 latency of each path; within 1.5x is the target."""
    rows = []
    for key, what, get in (
        ("admin_sessions", "admin sessions list (/admin/sessions/)", lambda r: r.sessions_page),
        ("admin_workers", "admin workers list (/admin/workers/)", lambda r: r.workers_page),
    ):
        a, b = get(small), get(large)
        ratio = b.p50_ms / a.p50_ms
        rows.append(
            Figure(
                key=f"scaling.{key}",
                section="5. Scaling",
                what=f"{what}, {PAGE_CONNECTIONS} connections: {_size(large)}",
                value=load_text(b),
                reference=f"{_size(small)}: {load_text(a)}",
                ratio=ratio,
                target=f"p50 within {TARGET}x",
                met=ratio <= TARGET and a.errors == 0 and b.errors == 0,
                number=ratio,
                unit="x small (p50)",
                lower_is_better=True,
            )
        )
    ratio = large.purchase_ms["p50"] / small.purchase_ms["p50"]
    rows.append(
        Figure(
            key="scaling.purchase",
            section="5. Scaling",
            what=f"purchase-and-create, 16 buyers x {PURCHASES}: {_size(large)}",
            value=spread_text(large.purchase_ms),
            reference=f"{_size(small)}: {spread_text(small.purchase_ms)}",
            ratio=ratio,
            target=f"p50 within {TARGET}x",
            met=ratio <= TARGET,
            number=ratio,
            unit="x small (p50)",
            lower_is_better=True,
        )
    )
    return rows
