"""Smoke tests of the bench harness's pure parts (no load, no timing)."""

from __future__ import annotations

import shlex

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.figures import ratios_text, spread
from bench.load import LoadResult, parse_wrk, percentile
from bench.poll import median_pair
from bench.scaling import p50_ratio
from bench.stack import hello_command, procfile, worker_command

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8000/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.50ms    2.00ms  30.00ms   80.00%
    Req/Sec     3.00k   200.00     3.50k    70.00%
  Latency Distribution
     50%  850.00us
     75%   12.00ms
     90%   15.00ms
     99%    1.20s
  30000 requests in 5.00s, 4.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:   6000.50
Transfer/sec:      800.00KB
"""


def test_parse_wrk_reads_throughput_percentiles_and_errors():
    figures = parse_wrk(WRK_OUTPUT)
    assert figures["rps"] == 6000.5
    assert figures["p50"] == pytest.approx(0.85)
    assert figures["p99"] == pytest.approx(1200.0)
    assert figures["requests"] == 30000
    assert figures["errors"] == 15


def test_parse_wrk_refuses_incomplete_output():
    with pytest.raises(ValueError):
        parse_wrk("Running 5s test @ http://127.0.0.1:1/\n")


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert spread(values)["n"] == 100
    assert spread([])["n"] == 0


def test_commands_come_from_the_procfile():
    web = shlex.split(procfile()["web"])
    hello = shlex.split(hello_command())
    # The same gunicorn command and configuration, only the app differs.
    assert [w for w in hello if w != "bench.hello_app:app"] == [w for w in web if w != "wsgi:app"]
    for worker_class in ("fork", "simple"):
        words = shlex.split(worker_command(worker_class, "--no-scheduler"))
        assert words.count("--worker-class") == 1
        assert words[words.index("--worker-class") + 1] == worker_class
        assert words[-1] == "--no-scheduler"


def test_hello_app_answers():
    from bench.hello_app import app

    assert app.test_client().get("/").get_data(as_text=True) == "hello"


def test_the_floor_answers_the_flash_sale_calls_as_the_shop_names_them():
    from bench.hello_app import ORDER_PATH, PRODUCTS_PATH, app

    client = app.test_client()
    assert client.get(PRODUCTS_PATH).get_json() == {"products": []}
    answer = client.post(ORDER_PATH, json={"product_id": "x"})
    assert answer.status_code == 202
    assert answer.get_json()["session"]["id"]


def test_the_committed_floor_commits_one_row_per_order(database_url, monkeypatch):
    from bench import hello_app
    from bench.hello_app import COMMITTED, ORDER_PATH, app

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    monkeypatch.setenv("BENCH_FLOOR_DSN", dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY)")
        try:
            client = app.test_client()
            for _ in range(3):
                assert client.post(COMMITTED + ORDER_PATH, json={}).status_code == 202
            # Seen from another connection: committed, not merely inserted.
            assert conn.execute("SELECT count(*) FROM bench_floor").fetchone()[0] == 3
        finally:
            hello_app._connections.connection.close()
            conn.execute("DROP TABLE bench_floor")


def test_the_poll_figure_is_the_pair_of_median_ratio():
    def run(rps: float) -> LoadResult:
        return LoadResult("x", rps, 1.0, 2.0, int(rps), 0, 1.0, 64, "wrk")

    pairs = [(run(50), run(100)), (run(90), run(100)), (run(30), run(120))]
    path, hello, ratios = median_pair(pairs)
    assert ratios == [0.5, 0.9, 0.25]
    assert (path.rps, hello.rps) == (50, 100)


def test_the_scaling_figure_is_the_pair_of_median_p50_ratio():
    def run(p50_ms: float) -> LoadResult:
        return LoadResult("x", 100.0, p50_ms, 2 * p50_ms, 100, 0, 1.0, 4, "wrk")

    pairs = [(run(10), run(30)), (run(20), run(24)), (run(10), run(11))]
    small, large, ratios = median_pair(pairs, p50_ratio)
    assert ratios == pytest.approx([3.0, 1.2, 1.1])
    assert (small.p50_ms, large.p50_ms) == (20, 24)


def test_a_median_pair_figure_names_every_pair():
    assert ratios_text([0.514, 0.59, 0.436]) == "the 3 pairs' ratios 0.51, 0.59, 0.44"
