"""Measurements 1 and 2: the polled paths and the catalogue against a bare Flask app."""

from __future__ import annotations

import requests

from bench.figures import Figure, load_text
from bench.load import LoadResult, run_load

CONNECTIONS = 64
SECONDS = 5
TARGET_RATIO = 0.5


def check(url: str, headers: dict[str, str]) -> None:
    """The path answers 200 before it is loaded (a 302 or 404 would be fast and wrong)."""
    answer = requests.get(url, headers=headers, timeout=10, allow_redirects=False)
    if answer.status_code != 200:
        raise RuntimeError(f"{url} answered HTTP {answer.status_code}: {answer.text[:200]}")


def reference(wrk: str | None, hello_url: str, runs: list[LoadResult]) -> LoadResult:
    """Load the bare app once more; the reference is the mean of its runs so far."""
    runs.append(run_load(wrk, "hello", hello_url + "/", connections=CONNECTIONS, seconds=SECONDS))
    return runs[-1]


def measure_paths(
    wrk: str | None,
    section: str,
    hello_url: str,
    paths: list[tuple[str, str, str, dict[str, str]]],
    hello_runs: list[LoadResult],
) -> list[Figure]:
    """Each ``(key, label, url, headers)`` at 64 connections, then the bare app right after
    it, so a noisy neighbour hits a path and its reference alike. The ratio is to the
    mean of the bare app's runs in this section."""
    results = []
    for key, label, url, headers in paths:
        check(url, headers)
        results.append(
            (
                key,
                label,
                run_load(
                    wrk, label, url, connections=CONNECTIONS, seconds=SECONDS, headers=headers
                ),
            )
        )
        reference(wrk, hello_url, hello_runs)
    hello_rps = sum(r.rps for r in hello_runs) / len(hello_runs)
    hello_text = f"bare Flask app {hello_rps:,.0f} req/s (mean of {len(hello_runs)} runs)"
    figures = []
    for key, label, result in results:
        ratio = result.rps / hello_rps
        figures.append(
            Figure(
                key=key,
                section=section,
                what=f"{label}, {CONNECTIONS} connections, {SECONDS} s",
                value=load_text(result),
                reference=hello_text,
                ratio=ratio,
                target=f">= {TARGET_RATIO:.0%} of the bare app",
                met=ratio >= TARGET_RATIO and result.errors == 0,
                number=ratio,
                unit="x bare",
            )
        )
    return figures
