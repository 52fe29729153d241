"""``python -m bench``: start the stack, run every measurement, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

from bench import (
    bigdata,
    boot,
    flash,
    jobs,
    log_proxy,
    memory,
    poll,
    purchase,
    report,
    scaling,
    seed,
)
from bench.client import bearer, browser_headers, buy, wait_sessions
from bench.figures import Figure
from bench.load import ensure_wrk, wrk_version
from bench.stack import LARGE_DATABASE, Process, Stack, procfile

NODES = 4
WORKER_CLASSES = ("fork", "simple")


@dataclass(frozen=True)
class Plan:
    """How much of everything one run loads: the full run, or ``--quick``."""

    small_workers: int = 10
    large_workers: int = 100
    # The small side is the "10,000 rows" of each list; the large side the big tables.
    small: bigdata.Size = bigdata.Size(300, 10_000, 10_000, 10_000)
    large: bigdata.Size = bigdata.Size(100_000, 1_000_000, 10_000_000, 1_000_000)
    pairs: int = 5
    page_seconds: int = 3
    boot_sessions: int = 1000
    boot_seconds: float = 60.0
    web_requests: int = 100_000
    worker_jobs: int = 10_000
    # The memory loads' chunk and warm-up lengths (bench/memory.py).
    memory_chunk_seconds: int = 20
    memory_warm_up: tuple[int, int] = (5, 500)  # seconds of requests, jobs
    # The polled paths, the log proxy, the purchase path and the job throughput.
    everything: bool = True


FULL = Plan()
# Under 3 minutes on this 2-core machine: one 1-second pair per page is weak evidence
# of a ratio, so the full run's figures are the ones the report keeps.
QUICK = Plan(
    large=bigdata.Size(20_000, 100_000, 500_000, 100_000),
    pairs=1,
    page_seconds=1,
    boot_sessions=200,
    boot_seconds=10.0,
    web_requests=3_000,
    worker_jobs=400,
    memory_chunk_seconds=3,
    memory_warm_up=(1, 100),
    everything=False,
)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # Unwinds like Ctrl-C, so the finally below stops every process group.
    raise KeyboardInterrupt


def procfile_worker_class() -> str:
    """The class the Procfile's worker line runs (the CLI's default is fork)."""
    words = shlex.split(procfile()["worker"])
    if "--worker-class" in words:
        return words[words.index("--worker-class") + 1]
    return "fork"


def log(message: str) -> None:
    """Progress on stdout, with the time since the start."""
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


STARTED = time.monotonic()


def first_session(stack: Stack, base_url: str, seeded: seed.Seeded) -> tuple[str, str]:
    """A ready session of buyer 0 (the one polled); its id and node route."""
    with requests.Session() as http:
        bought = buy(http, base_url, seeded.buyer_tokens[0], seeded.bench_product_id)
    if bought.session_id is None:
        raise RuntimeError(f"the first purchase failed: HTTP {bought.status}")
    rows = wait_sessions(stack.dsn, [bought.session_id], ("ready", "failed"), 60)
    if rows[bought.session_id][0] != "ready":
        raise RuntimeError(f"the first session is {rows[bought.session_id][0]}, not ready")
    with psycopg.connect(stack.dsn) as conn:
        route = conn.execute(
            "SELECT worker_route FROM vps_sessions WHERE id = %s", (bought.session_id,)
        ).fetchone()[0]
    return bought.session_id, route


def polled_paths(
    wrk: str | None, web_url: str, hello_url: str, token: str, buyer: dict, session_id: str
) -> list[Figure]:
    """Measurements 1 and 2: the polled paths and the catalogue against the bare app."""
    session_url = f"{web_url}/api/v1/vps/sessions/{session_id}"
    partial_url = f"{web_url}/vps/sessions/{session_id}/status"
    products_url = f"{web_url}/api/v1/vps/products"
    api, page = bearer(token), buyer
    figures = poll.measure_paths(
        wrk,
        "1. Poll path",
        hello_url,
        [
            poll.not_modified_path(
                "poll.api_session", "GET /api/v1/vps/sessions/<id>", session_url, api
            ),
            poll.not_modified_path(
                "poll.status_partial", "GET /vps/sessions/<id>/status", partial_url, page
            ),
            poll.path(
                "poll.api_session_full",
                "GET /api/v1/vps/sessions/<id>, 200",
                session_url,
                api,
                target=0.2,
            ),
            poll.path(
                "poll.status_partial_full",
                "GET /vps/sessions/<id>/status, 200",
                partial_url,
                page,
                target=0,
            ),
        ],
    )
    figures += poll.measure_paths(
        wrk,
        "2. Catalogue",
        hello_url,
        [
            poll.not_modified_path(
                "catalogue.api_products", "GET /api/v1/vps/products", products_url, api
            ),
            poll.not_modified_path("catalogue.page", "GET / (signed in)", f"{web_url}/", page),
            poll.path(
                "catalogue.api_products_full",
                "GET /api/v1/vps/products, 200",
                products_url,
                api,
                target=0,
            ),
            poll.path(
                "catalogue.page_full", "GET / (signed in), 200", f"{web_url}/", page, target=0
            ),
        ],
    )
    return figures


def grow_large_copy(stack: Stack, seeded: seed.Seeded, plan: Plan) -> dict[str, int]:
    """The small data copied to the large-data database and grown there; its row counts."""
    stack.copy_to_large()
    seed.grow_workers(stack.large_dsn, replace(seeded, worker_ids=[]), plan.large_workers)
    seconds = bigdata.grow(stack.large_dsn, seeded, plan.large, log=log)
    log(f"   large data loaded in {seconds:.0f} s")
    return seed.counts(stack.large_dsn)


def scaling_side_by_side(
    stack: Stack,
    web: Process,
    seeded: seed.Seeded,
    small_counts: dict[str, int],
    large_counts: dict[str, int],
    wrk: str | None,
) -> list[Figure]:
    """Measurement 5 with a web and a worker process serving the large copy beside ``web``
    (the small data); both webs are fresh, and they take turns under load."""
    large_web = stack.start_web("web-large", **stack.large_env)
    large_worker = stack.start_worker(
        procfile_worker_class(), name="worker-large", **stack.large_env
    )
    sites = [
        scaling.Site(
            label,
            counts,
            process.url,
            dsn,
            browser_headers(process.url, seeded.admin_email, seeded.admin_password),
            env,
        )
        for label, counts, process, dsn, env in (
            ("small", small_counts, web, stack.dsn, stack.env),
            ("large", large_counts, large_web, stack.large_dsn, {**stack.env, **stack.large_env}),
        )
    ]
    try:
        return scaling.measure(wrk, *sites, seeded.buyer_tokens, seeded.bench_product_id)
    finally:
        stack.stop(large_worker)
        stack.stop(large_web)


def run(
    stack: Stack, wrk: str | None, plan: Plan, only_polled: bool = False
) -> tuple[list[Figure], list[str]]:
    """Every measurement in order (or only 1 and 2); the figures and the setup lines for
    the report."""
    figures: list[Figure] = []
    scaling.PAIRS, scaling.PAGE_SECONDS = plan.pairs, plan.page_seconds
    boot.BOOT_SECONDS = plan.boot_seconds
    memory.CHUNK_SECONDS = plan.memory_chunk_seconds
    memory.WARM_UP_SECONDS, memory.WARM_UP_JOBS = plan.memory_warm_up
    log("fresh database vpsshop_bench, Redis db 12, release phase (db upgrade)")
    stack.reset_data()
    stack.start_mail_sink()
    node_urls = [n.url for n in stack.start_nodes(range(NODES))]
    boot_nodes = stack.start_nodes(range(100, 100 + boot.NODES), boot_seconds=plan.boot_seconds)
    boot_urls = [n.url for n in boot_nodes]
    log(f"{NODES} simulated nodes and {boot.NODES} booting ones up; seeding")
    seeded = seed.seed_base(
        stack.env,
        node_urls,
        plan.small_workers,
        flash=(flash.BUYERS, flash.NODES, flash.SLOTS),
        boot_node_urls=tuple(boot_urls),
        boot_slots=-(-plan.boot_sessions // boot.NODES) + 10,
    )
    bigdata.grow(stack.dsn, seeded, plan.small, log=log)
    small_counts = seed.counts(stack.dsn)
    if not only_polled:
        log("large data: a copy of the database, grown in bulk SQL")
        large_counts = grow_large_copy(stack, seeded, plan)
    web = stack.start_web()
    hello = stack.start_hello(BENCH_FLOOR_DSN=stack.dsn)
    default_class = procfile_worker_class()
    worker = stack.start_worker(default_class)
    log(f"web {web.url}, hello {hello.url}, worker ({default_class}) up")
    buyer = browser_headers(web.url, seeded.buyer_emails[0], seeded.buyer_password)
    session_id, route = first_session(stack, web.url, seeded)
    token = seeded.buyer_tokens[0]

    if only_polled:
        log("1. poll path and 2. catalogue against the bare app")
        return polled_paths(wrk, web.url, hello.url, token, buyer, session_id), []

    log("5. scaling, small and large data side by side")
    figures += scaling_side_by_side(stack, web, seeded, small_counts, large_counts, wrk)

    if plan.everything:
        log("1. poll path and 2. catalogue against the bare app")
        figures += polled_paths(wrk, web.url, hello.url, token, buyer, session_id)

        log("4. log proxy")
        figures += log_proxy.measure(wrk, web.url, node_urls, token, session_id, route)

        log("3. purchase path, fork and simple workers")
        for worker_class in WORKER_CLASSES:
            stack.stop(worker)
            worker = stack.start_worker(worker_class)
            time.sleep(1.0)  # the worker's start-up (scheduler, sweep) settles
            idle, busy = purchase.measure_worker_class(
                web.url, stack.dsn, node_urls, seeded.buyer_tokens, seeded.bench_product_id
            )
            figures += purchase.figures(worker_class, idle, busy, default_class)
            log(f"   {worker_class}: done")

        log("6. job throughput, fork and simple")
        stack.stop(worker)
        pending: list[str] = []
        for worker_class in WORKER_CLASSES:
            figure, ids = jobs.measure(
                stack,
                worker_class,
                web.url,
                node_urls,
                seeded.buyer_tokens,
                seeded.bench_product_id,
            )
            figures.append(figure)
            pending += ids
        worker = stack.start_worker(default_class)
        wait_sessions(stack.dsn, pending, ("ready", "failed"), 90)

    log("7. flash sale")
    figures += flash.measure(web.url, stack.dsn, seeded.flash_tokens, seeded.flash_product_id)
    log("   the same rush against the bare app: the floor")
    figures += flash.floor(hello.url, stack.dsn, seeded.flash_tokens)

    log(f"8. {plan.boot_sessions} VMs booting at once ({plan.boot_seconds:.0f} s boot)")
    boot_figures, ready_ids = boot.measure(
        web.url,
        stack.dsn,
        stack.redis_url,
        boot_urls,
        seeded.buyer_tokens,
        seeded.boot_product_id,
        plan.boot_sessions,
    )
    figures += boot_figures

    log(f"9. memory: web after {plan.web_requests:,} requests")
    poll_url = f"{web.url}/api/v1/vps/sessions/{session_id}"
    figures.append(memory.web(wrk, web, poll_url, bearer(token), plan.web_requests))
    log(f"   worker after {plan.worker_jobs:,} jobs")
    figures.append(
        memory.worker(worker, stack.redis_url, ready_ids or [session_id], plan.worker_jobs)
    )

    setup = [
        f"Stack: Procfile `web` (gunicorn.conf.py defaults: WEB_CONCURRENCY 2, WEB_THREADS 16) "
        f"and the bare app `{hello.command}`; Procfile `worker` with `--worker-class`; "
        f"{NODES} simulated nodes (`--boot-seconds 0`) and {boot.NODES} for the boot test "
        f"(`--boot-seconds {plan.boot_seconds:.0f}`); PostgreSQL database vpsshop_bench; "
        "Redis db 12; an SMTP sink (aiosmtpd's `Sink`) as `MAIL_URL`, so the shop's "
        "notices are sent. All on 127.0.0.1.",
        f"Data: {len(seeded.buyer_tokens)} buyers with API tokens, {flash.BUYERS} flash-sale "
        f"buyers; small = {plan.small_workers} workers / {plan.small.text()}, large = "
        f"{plan.large_workers} workers / {plan.large.text()} (bulk rows spread over "
        f"{bigdata.DAYS} days; worker rows share the {NODES} nodes).",
        f"Scaling: the large data is a copy of the small (database {LARGE_DATABASE}, Redis "
        "db 11) grown in bulk SQL (secondary indexes dropped, rows loaded by generate_series, "
        "indexes rebuilt) and followed by VACUUM ANALYZE, served by its own web and "
        "worker processes started beside the small data's; each page is loaded in "
        f"{scaling.PAIRS} back-to-back pairs (small, then large) of {scaling.PAGE_SECONDS} s, "
        f"and so are bursts of {scaling.PURCHASES} purchases; each is reported by the pair "
        "of median ratio.",
        "RATELIMIT_PURCHASES_PER_USER is raised for the run (16 buyers make hundreds of "
        "purchases a minute); the limiter still runs on every purchase.",
        f"Worker class in the Procfile during the other measurements: `{default_class}`.",
    ]
    return figures, setup


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 0 when RESULTS.md was written."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--workdir", type=Path, help="logs of the started processes")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller loads (under 3 minutes): the scale figures only, printed, no report",
    )
    parser.add_argument(
        "--only-polled",
        action="store_true",
        help="measure only 1 (poll path) and 2 (catalogue), print them, write no report",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started_at = datetime.now(UTC)
    wrk = ensure_wrk()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vpsshop-bench-"))
    stack = Stack(workdir)
    log(f"process logs in {workdir}")
    try:
        figures, setup = run(stack, wrk, QUICK if args.quick else FULL, args.only_polled)
        if args.only_polled or args.quick:
            _print(figures)
            return 0
        env = {
            "machine": report.machine(),
            "versions": report.versions(stack.dsn, stack.redis_url, wrk_version(wrk)),
        }
    except KeyboardInterrupt:
        log("interrupted; stopping everything the bench started")
        return 130
    finally:
        stack.close()
    report.write(
        figures,
        command="make bench  (.venv/bin/python -m bench)",
        started_at=started_at,
        env=env,
        setup=setup,
    )
    log(f"wrote {report.RESULTS_MD}")
    _print(figures)
    return 0


def _print(figures: list[Figure]) -> None:
    for figure in figures:
        met = {True: "ok", False: "MISSED", None: "--"}[figure.met]
        ratio = f" ({figure.ratio:.2f}x)" if figure.ratio is not None else ""
        print(f"  {met:6} {figure.what}: {figure.value}{ratio}")


if __name__ == "__main__":
    sys.exit(main())
