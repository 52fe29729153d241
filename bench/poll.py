"""Measurements 1 and 2: the polled paths and the catalogue against a bare Flask app."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests

from bench.figures import Figure, load_text, ratios_text
from bench.load import LoadResult, run_load

CONNECTIONS = 64
SECONDS = 5
# Each path is loaded in this many back-to-back pairs with the bare app; the figure is the
# pair of median ratio, so one burst of a noisy neighbour does not decide it.
PAIRS = 3
TARGET_RATIO = 0.5
T = TypeVar("T")


def check(url: str, headers: dict[str, str]) -> None:
    """The path answers 200 before it is loaded (a 302 or 404 would be fast and wrong)."""
    answer = requests.get(url, headers=headers, timeout=10, allow_redirects=False)
    if answer.status_code != 200:
        raise RuntimeError(f"{url} answered HTTP {answer.status_code}: {answer.text[:200]}")


def measure_pairs(
    wrk: str | None, label: str, url: str, headers: dict[str, str], hello_url: str
) -> list[tuple[LoadResult, LoadResult]]:
    """``PAIRS`` runs of the path, each followed at once by a run of the bare app."""
    pairs = []
    for _ in range(PAIRS):
        path = run_load(wrk, label, url, connections=CONNECTIONS, seconds=SECONDS, headers=headers)
        hello = run_load(wrk, "hello", hello_url + "/", connections=CONNECTIONS, seconds=SECONDS)
        pairs.append((path, hello))
    return pairs


def throughput_ratio(path: LoadResult, reference: LoadResult) -> float:
    """The path's requests per second over its reference's."""
    return path.rps / reference.rps


def median_pair(
    pairs: list[tuple[T, T]],
    ratio_of: Callable[[T, T], float] = throughput_ratio,
) -> tuple[T, T, list[float]]:
    """The pair of median ratio, and every pair's ratio in the order measured."""
    ratios = [ratio_of(first, second) for first, second in pairs]
    middle = sorted(range(len(pairs)), key=ratios.__getitem__)[len(pairs) // 2]
    return pairs[middle][0], pairs[middle][1], ratios


def measure_paths(
    wrk: str | None,
    section: str,
    hello_url: str,
    paths: list[tuple[str, str, str, dict[str, str]]],
) -> list[Figure]:
    """Each ``(key, label, url, headers)`` at 64 connections in pairs with the bare app."""
    figures = []
    for key, label, url, headers in paths:
        check(url, headers)
        pairs = measure_pairs(wrk, label, url, headers, hello_url)
        path, hello, ratios = median_pair(pairs)
        ratio = path.rps / hello.rps
        errors = sum(run.errors for run, _ in pairs)
        figures.append(
            Figure(
                key=key,
                section=section,
                what=f"{label}, {CONNECTIONS} connections, {PAIRS} x {SECONDS} s",
                value=load_text(path),
                reference=f"bare Flask app {hello.rps:,.0f} req/s right after; "
                + ratios_text(ratios),
                ratio=ratio,
                target=f">= {TARGET_RATIO:.0%} of the bare app (median of {PAIRS} pairs)",
                met=ratio >= TARGET_RATIO and errors == 0,
                number=ratio,
                unit="x bare",
            )
        )
    return figures
