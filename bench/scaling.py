"""Measurement 5: purchase latency and the admin lists, small data beside large data."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from bench import seed
from bench.bigdata import history_user
from bench.client import buy_concurrently, wait_sessions
from bench.figures import Figure, load_text, ratios_text, spread, spread_text
from bench.load import LoadResult, run_load
from bench.poll import check, median_pair

PAGE_CONNECTIONS = 4
PAGE_SECONDS = 3
PAGES = (
    ("admin_sessions", "admin sessions list (/admin/sessions/)", "/admin/sessions/"),
    (
        "admin_sessions_filtered",
        "admin sessions list, status failed",
        "/admin/sessions/?flt0_status_equals=failed",
    ),
    ("admin_ledger", "admin ledger list (/admin/ledger/)", "/admin/ledger/"),
    (
        "admin_ledger_filtered",
        "admin ledger list, kind refund",
        "/admin/ledger/?flt0_kind_equals=refund",
    ),
    ("admin_users", "admin users list (/admin/users/)", "/admin/users/"),
    ("admin_users_filtered", "admin users list, admins only", "/admin/users/?flt0_admin_equals=1"),
    ("admin_audit", "admin audit list (/admin/audit/)", "/admin/audit/"),
    (
        "admin_audit_filtered",
        "admin audit list, target worker",
        "/admin/audit/?flt0_target_equals=worker",
    ),
    ("admin_workers", "admin workers list (/admin/workers/)", "/admin/workers/"),
    ("admin_dashboard", "admin dashboard (/admin/)", "/admin/"),
)
# Each page (and each burst of purchases) is measured on the small and then the large data
# this many times in turn; the figure is the pair of median ratio, so one noisy burst does
# not decide it (the full run sets five: ``Plan.pairs``).
PAIRS = 3
PURCHASES = 100
# A user's own transactions, newest first by id, 50 a page: the first page and the next
# (``before`` the last id shown), as GET /api/v1/me/transactions?limit=&before= reads them.
KEYSET_PAGE = (
    "SELECT id, delta, balance_after, kind, reason, session_id, created_at "
    "FROM coin_transactions WHERE user_id = %s AND id < %s ORDER BY id DESC LIMIT 50"
)
KEYSET_RUNS = 300
TARGET = 1.5


@dataclass(frozen=True)
class Site:
    """One data size, served by its own web and worker processes, database and Redis db."""

    label: str
    counts: dict[str, int]
    base_url: str
    dsn: str
    admin_headers: dict[str, str]
    env: dict[str, str]

    @property
    def size(self) -> str:
        c = self.counts
        return (
            f"{c['workers']} workers / {c['users']:,} users / {c['vps_sessions']:,} sessions / "
            f"{c['coin_transactions']:,} ledger rows / {c['audit_entries']:,} audit entries"
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


def keyset_ms(dsn: str, user_id: str, before: int) -> dict[str, float]:
    """In-process time of one page of a user's own transactions, ``KEYSET_RUNS`` times."""
    times = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(KEYSET_RUNS):
            started = time.perf_counter()
            conn.execute(KEYSET_PAGE, (user_id, before)).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return spread(times)


def keyset_figures(small: Site, large: Site) -> list[Figure]:
    """A user's own transactions, first and second page, small beside large."""
    figures = []
    email, *small_user = history_user(small.dsn)
    users = {"small": small_user, "large": history_user(large.dsn, email)[1:]}
    for key, what, page in (("first", "first page", 0), ("next", "next page (before=)", 1)):
        pairs = []
        for _ in range(PAIRS):
            pair = []
            for site in (small, large):
                user_id, second = users[site.label]
                pair.append(keyset_ms(site.dsn, user_id, second if page else 2**62))
            pairs.append(tuple(pair))
        a, b, ratios = median_pair(pairs, p50_ms_ratio)
        ratio = p50_ms_ratio(a, b)
        figures.append(
            Figure(
                key=f"scaling.own_transactions_{key}",
                section="5. Scaling",
                what=f"a user's own transactions, {what}, 50 rows by id (the keyset query of "
                f"GET /api/v1/me/transactions, in-process): {large.size}",
                value=spread_text(b),
                reference=f"{small.size}: {spread_text(a)}; {ratios_text(ratios)}",
                ratio=ratio,
                target=f"p50 within {TARGET}x (median of {PAIRS} pairs)",
                met=ratio <= TARGET,
                number=ratio,
                unit="x small (p50)",
                lower_is_better=True,
            )
        )
    return figures


def _close_days_ms(site: Site) -> tuple[float, int]:
    """In-process: the aggregation of the closed days of the dashboard's 30 (the sweep's
    once-a-day step, timed without its insert), then the sweep's step itself, so the pages
    after this read kept days even if the site's own sweep has not run yet."""
    from vpsshop.extensions import db
    from vpsshop.services import day_figures, stats

    with seed.app_for(site.env).app_context():
        now = datetime.now(UTC)
        _, day_list = stats.day_range(stats.CHART_DAYS, now)
        closed = [day for day in day_list if day < day_figures.first_open_day(now)]
        started = time.perf_counter()
        day_figures.aggregate(closed[0], closed[-1])
        elapsed = (time.perf_counter() - started) * 1000
        day_figures.close_days(day_list, now)
        db.session.remove()
        db.engine.dispose()
    return elapsed, len(closed)


def dashboard_close_days(small: Site, large: Site) -> Figure:
    """What the dashboard no longer does per view: aggregate the closed days."""
    (small_ms, _), (large_ms, closed) = _close_days_ms(small), _close_days_ms(large)
    return Figure(
        key="scaling.dashboard_close_days",
        section="5. Scaling",
        what=f"the sweep's aggregation of the dashboard's {closed} closed days, once a day "
        f"(in-process; every dashboard view then reads their rows): {large.size}",
        value=f"{large_ms:,.0f} ms",
        reference=f"{small.size}: {small_ms:,.0f} ms",
        ratio=large_ms / small_ms,
        number=large_ms,
        unit="ms",
        lower_is_better=True,
    )


def measure(
    wrk: str | None, small: Site, large: Site, tokens: list[str], product_id: str
) -> list[Figure]:
    """The admin lists, a user's transactions, then the purchases, each in pairs of small
    and large data."""
    return [
        dashboard_close_days(small, large),
        *page_figures(wrk, small, large),
        *keyset_figures(small, large),
        purchase_figure(small, large, tokens, product_id),
    ]
