"""bench/RESULTS.md and bench/results.json from one run's figures."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.figures import Figure

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"
# A frozen results.json of the run before the optimisations (see notes.md).
BASELINE_JSON = HERE / "baseline.json"
NOTES_MD = HERE / "notes.md"
PACKAGES = (
    "Flask",
    "Werkzeug",
    "SQLAlchemy",
    "Flask-SQLAlchemy",
    "Flask-Admin",
    "rq",
    "redis",
    "hiredis",
    "gunicorn",
    "psycopg",
)


def machine() -> dict[str, str]:
    """CPU count and model, memory, kernel."""
    model = ""
    memory_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "memory": f"{memory_kib / 1024 / 1024:.1f} GiB" if memory_kib else "unknown",
        "kernel": platform.release(),
    }


def versions(dsn: str, redis_url: str, load_tool: str) -> dict[str, str]:
    """Python, the stack's packages, PostgreSQL and Redis servers, the load generator."""
    found = {"Python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    with psycopg.connect(dsn) as conn:
        found["PostgreSQL"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    client = redis.Redis.from_url(redis_url)
    found["Redis"] = client.info("server")["redis_version"]
    client.close()
    found["load generator"] = load_tool
    return found


def git_revision() -> str:
    """The commit the run measured, with ``+dirty`` when the tree had changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + ("+dirty" if dirty else "")


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[value]


def _ratio(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _before_after(figures: list[Figure], baseline: dict[str, Any]) -> list[str]:
    before = {f["key"]: f for f in baseline.get("figures", [])}
    lines = [
        "## Before and after the optimisations",
        "",
        f"Before: the run of {baseline.get('finished_at', '?')} at "
        f"{baseline.get('revision', '?')} (`bench/baseline.json`); after: this run. "
        "Same machine and command; each figure is a ratio or a latency taken within its run.",
        "",
        "| figure | before | after | change |",
        "| --- | --- | --- | --- |",
    ]
    for figure in figures:
        old = before.get(figure.key)
        if old is None or old.get("number") is None or figure.number is None:
            continue
        a, b = old["number"], figure.number
        if not a or math.isnan(a) or math.isnan(b):
            continue
        change = b / a
        better = change < 1 if figure.lower_is_better else change > 1
        lines.append(
            f"| {_cell(figure.what)} | {a:,.2f} {figure.unit} | {b:,.2f} {figure.unit} | "
            f"{change:.2f}x{' (better)' if better and abs(change - 1) > 0.05 else ''} |"
        )
    return [*lines, ""]


def write(
    figures: list[Figure],
    *,
    command: str,
    started_at: datetime,
    env: dict[str, Any],
    setup: list[str],
) -> None:
    """Write RESULTS.md and results.json next to this module."""
    finished_at = datetime.now(UTC)
    revision = git_revision()
    document = {
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "revision": revision,
        **env,
        "figures": [f.as_dict() for f in figures],
    }
    RESULTS_JSON.write_text(json.dumps(document, indent=2) + "\n")
    minutes = (finished_at - started_at).total_seconds() / 60
    lines = [
        "# vpsshop benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); every figure below comes from this one "
        "run, each measured side by side with its reference on the same machine, so compare "
        "the ratios rather than the absolute numbers (the machine is shared and noisy).",
        "",
        f"- Command: `{command}`",
        f"- Run: {started_at:%Y-%m-%d %H:%M} UTC, {minutes:.1f} min, commit {revision}",
        "- Machine: " + ", ".join(f"{k} {v}" for k, v in env["machine"].items()),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        *[f"- {line}" for line in setup],
        "",
        "## Figures",
        "",
        "| measurement | figure | reference | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    section = None
    for figure in figures:
        if figure.section != section:
            section = figure.section
            lines.append(f"| **{section}** | | | | | |")
        lines.append(
            f"| {_cell(figure.what)} | {_cell(figure.value)} | {_cell(figure.reference)} | "
            f"{_ratio(figure.ratio)} | {_cell(figure.target)} | {_met(figure.met)} |"
        )
    lines.append("")
    if BASELINE_JSON.exists():
        lines += _before_after(figures, json.loads(BASELINE_JSON.read_text()))
    if NOTES_MD.exists():
        lines += [NOTES_MD.read_text().rstrip(), ""]
    RESULTS_MD.write_text("\n".join(lines))
