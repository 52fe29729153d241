"""Measurement 5: purchase latency and the admin lists, small data beside large data."""

from __future__ import annotations

from dataclasses import dataclass

from bench.client import buy_concurrently, wait_sessions
from bench.figures import Figure, load_text, ratios_text, spread, spread_text
from bench.load import LoadResult, run_load
from bench.poll import check, median_pair

PAGE_CONNECTIONS = 4
PAGE_SECONDS = 4
PAGES = (
    ("admin_sessions", "admin sessions list (/admin/sessions/)", "/admin/sessions/"),
    ("admin_workers", "admin workers list (/admin/workers/)", "/admin/workers/"),
)
# Each page (and each burst of purchases) is measured on the small and then the large data
# this many times in turn; the figure is the pair of median ratio, so one noisy burst does
# not decide it.
PAIRS = 3
PURCHASES = 100
TARGET = 1.5


@dataclass(frozen=True)
class Site:
    """One data size, served by its own web and worker processes, database and Redis db."""

    label: str
    counts: dict[str, int]
    base_url: str
    dsn: str
    admin_headers: dict[str, str]

    @property
    def size(self) -> str:
        c = self.counts
        return (
            f"{c['workers']} workers / {c['vps_sessions']:,} sessions / "
            f"{c['coin_transactions']:,} ledger rows"
        )


def p50_ratio(small: LoadResult, large: LoadResult) -> float:
    """How many times the small data's p50 latency the large data's is."""
    return large.p50_ms / small.p50_ms


def _load_page(wrk: str | None, site: Site, path: str) -> LoadResult:
    return run_load(
        wrk,
        f"{path} ({site.label})",
        site.base_url + path,
        connections=PAGE_CONNECTIONS,
        seconds=PAGE_SECONDS,
        headers=site.admin_headers,
    )


def page_figures(wrk: str | None, small: Site, large: Site) -> list[Figure]:
    """Each admin list in ``PAIRS`` back-to-back pairs, small then large."""
    figures = []
    for key, what, path in PAGES:
        for site in (small, large):
            check(site.base_url + path, site.admin_headers)
        pairs = [(_load_page(wrk, small, path), _load_page(wrk, large, path)) for _ in range(PAIRS)]
        a, b, ratios = median_pair(pairs, p50_ratio)
        ratio = p50_ratio(a, b)
        errors = sum(x.errors + y.errors for x, y in pairs)
        figures.append(
            Figure(
                key=f"scaling.{key}",
                section="5. Scaling",
                what=f"{what}, {PAGE_CONNECTIONS} connections, {PAIRS} x {PAGE_SECONDS} s: "
                f"{large.size}",
                value=load_text(b),
                reference=f"{small.size}: {load_text(a)}; {ratios_text(ratios)}",
                ratio=ratio,
                target=f"p50 within {TARGET}x (median of {PAIRS} pairs)",
                met=ratio <= TARGET and errors == 0,
                number=ratio,
                unit="x small (p50)",
                lower_is_better=True,
            )
        )
    return figures


def purchase_latency(site: Site, tokens: list[str], product_id: str) -> dict[str, float]:
    """100 purchases by 16 buyers; waits for their jobs so the worker is idle afterwards."""
    purchases = buy_concurrently(site.base_url, tokens, product_id, total=PURCHASES, max_seconds=90)
    ids = [p.session_id for p in purchases if p.session_id]
    wait_sessions(site.dsn, ids, ("ready", "failed"), 90)
    return spread([p.latency_ms for p in purchases if p.status == 202])


def p50_ms_ratio(small: dict[str, float], large: dict[str, float]) -> float:
    """How many times the small data's p50 purchase latency the large data's is."""
    return large["p50"] / small["p50"]


def purchase_figure(small: Site, large: Site, tokens: list[str], product_id: str) -> Figure:
    """``PAIRS`` bursts of purchases on small then large data; large over small at p50."""
    pairs = [
        (purchase_latency(small, tokens, product_id), purchase_latency(large, tokens, product_id))
        for _ in range(PAIRS)
    ]
    small_ms, large_ms, ratios = median_pair(pairs, p50_ms_ratio)
    ratio = p50_ms_ratio(small_ms, large_ms)
    return Figure(
        key="scaling.purchase",
        section="5. Scaling",
        what=f"purchase-and-create, 16 buyers, {PAIRS} x {PURCHASES}: {large.size}",
        value=spread_text(large_ms),
        reference=f"{small.size}: {spread_text(small_ms)}; {ratios_text(ratios)}",
        ratio=ratio,
        target=f"p50 within {TARGET}x (median of {PAIRS} pairs)",
        met=ratio <= TARGET,
        number=ratio,
        unit="x small (p50)",
        lower_is_better=True,
    )


def measure(
    wrk: str | None, small: Site, large: Site, tokens: list[str], product_id: str
) -> list[Figure]:
    """The admin lists, then the purchases, each in pairs of small and large data."""
    return [
        *page_figures(wrk, small, large),
        purchase_figure(small, large, tokens, product_id),
    ]
