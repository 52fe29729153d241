"""One measured figure of the run, as the report and results.json carry it."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.load import LoadResult, percentile


@dataclass
class Figure:
    """A row of the results table; ``key`` is stable across runs (before/after)."""

    key: str
    section: str
    what: str
    value: str
    reference: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    # The main number behind ``value``, compared with the baseline run.
    number: float | None = None
    unit: str = ""
    lower_is_better: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_text(result: LoadResult) -> str:
    """``1234 req/s, p50 5.1 ms, p99 20.3 ms`` (+ errors when there were any)."""
    text = f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
    if result.errors:
        text += f", {result.errors} errors of {result.requests}"
    return text


def ratios_text(ratios: list[float]) -> str:
    """``the 3 pairs' ratios 0.51, 0.59, 0.44``: every pair behind a median-pair figure."""
    return f"the {len(ratios)} pairs' ratios " + ", ".join(f"{r:.2f}" for r in ratios)


def spread(values: list[float]) -> dict[str, float]:
    """p50 and p99 (nearest rank) of ``values`` in milliseconds, and their count."""
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "n": 0}
    return {"p50": statistics.median(values), "p99": percentile(values, 0.99), "n": len(values)}


def spread_text(values: dict[str, float], unit: str = "ms") -> str:
    """``p50 12.3 ms, p99 45.6 ms (n=200)``."""
    if not values["n"]:
        return "no data"
    return f"p50 {values['p50']:.1f} {unit}, p99 {values['p99']:.1f} {unit} (n={values['n']})"
