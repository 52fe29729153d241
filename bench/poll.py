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


def check(url: str, headers: dict[str, str], expected: int = 200) -> None:
    """The path answers ``expected`` before it is loaded (a 302 or 404 would be fast and
    wrong)."""
    answer = requests.get(url, headers=headers, timeout=10, allow_redirects=False)
    if answer.status_code != expected:
        raise RuntimeError(f"{url} answered HTTP {answer.status_code}: {answer.text[:200]}")


def revalidating(url: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the ETag the path answers now as ``If-None-Match``: the polls of a
    client that already has the answer, which the path answers with a 304."""
    answer = requests.get(url, headers=headers, timeout=10, allow_redirects=False)
    etag = answer.headers.get("ETag")
    if answer.status_code != 200 or not etag:
        raise RuntimeError(f"{url} gave no ETag (HTTP {answer.status_code})")
    return {**headers, "If-None-Match": etag}


Path = tuple[str, str, str, dict[str, str], float, int]


def path(
    key: str, label: str, url: str, headers: dict[str, str], *, target: float = TARGET_RATIO
) -> Path:
    """A path answered in full (200): loaded with the client's headers as given."""
    return (key, label, url, headers, target, 200)


def not_modified_path(
    key: str, label: str, url: str, headers: dict[str, str], *, target: float = TARGET_RATIO
) -> Path:
    """A path polled by a client that has the current answer: every request gets a 304."""
    return (key, label + ", 304", url, revalidating(url, headers), target, 304)


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
    paths: list[Path],
) -> list[Figure]:
    """Each path at 64 connections in pairs with the bare app; a target of 0 only reports."""
    figures = []
    for key, label, url, headers, target, expected in paths:
        check(url, headers, expected)
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
                target=f">= {target:.0%} of the bare app (median of {PAIRS} pairs)"
                if target
                else "reported",
                met=(ratio >= target and errors == 0) if target else None,
                number=ratio,
                unit="x bare",
            )
        )
    return figures
