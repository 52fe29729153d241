"""HTTP load at a fixed number of connections: wrk (Debian), or a bounded Python fallback."""

from __future__ import annotations

import http.client
import math
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

WRK_THREADS = 2  # one per core of the bench machine
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one load run."""

    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors
    seconds: float
    connections: int
    tool: str


def ensure_wrk() -> str | None:
    """Path of ``wrk``, installing Debian's package when we may; None means the fallback."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_WRK"):
        return None if os.environ.get("BENCH_NO_WRK") else found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (apt-get install -y wrk)", flush=True)
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 300}
        if subprocess.run(install, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet)
            subprocess.run(install, **quiet)
    found = shutil.which("wrk")
    if not found:
        print("bench: wrk unavailable; using the Python load generator", flush=True)
    return found


def wrk_version(wrk: str | None) -> str:
    """``wrk debian/4.1.0-3+b2`` or the fallback's name."""
    if wrk is None:
        return "python load generator (bench/load.py)"
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].split(" [")[0].strip()


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not match:
        raise ValueError(f"unparsed wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50, p99, request and error counts from ``wrk --latency`` output."""
    figures: dict[str, float] = {"errors": 0.0}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            figures["p" + words[0].rstrip("%")] = _ms(words[1])
        elif "requests in" in line:
            figures["requests"] = float(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            figures["errors"] += float(words[-1])
        elif line.strip().startswith("Socket errors:"):
            figures["errors"] += sum(float(n) for n in re.findall(r"\d+", line))
    missing = {"rps", "p50", "p99", "requests"} - set(figures)
    if missing:
        raise ValueError(f"wrk output lacks {sorted(missing)}:\n{output}")
    return figures


def run_load(
    wrk: str | None,
    label: str,
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Load ``url`` with ``connections`` keep-alive connections for ``seconds``."""
    headers = headers or {}
    if wrk is None:
        return _python_load(label, url, connections, seconds, headers)
    command = [
        wrk,
        f"-t{min(WRK_THREADS, connections)}",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    figures = parse_wrk(out.stdout)
    return LoadResult(
        label,
        figures["rps"],
        figures["p50"],
        figures["p99"],
        int(figures["requests"]),
        int(figures["errors"]),
        seconds,
        connections,
        "wrk",
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def _python_load(
    label: str, url: str, connections: int, seconds: float, headers: dict[str, str]
) -> LoadResult:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.monotonic() + seconds

    def one_connection(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                    continue
                latencies[index].append((time.perf_counter() - started) * 1000)
                if response.status >= 400:
                    errors[index] += 1
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=one_connection, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 15)
    elapsed = time.monotonic() - started
    flat = [value for chunk in latencies for value in chunk]
    return LoadResult(
        label,
        len(flat) / elapsed,
        statistics.median(flat) if flat else float("nan"),
        percentile(flat, 0.99),
        len(flat),
        sum(errors),
        seconds,
        connections,
        "python",
    )
