"""Browser-test fixtures: the app on 127.0.0.1 and Debian's Chromium through Playwright.

Reusable by any browser test under ``tests/browser/``:

- ``live_server`` (tests/fixtures/live_server.py): the test ``app`` (same database and
  Redis index as the ``app``, ``db`` and ``make_*`` fixtures, same ``app_config`` overrides)
  served by werkzeug on ``127.0.0.1`` at a free port in a background thread, one thread per
  request. ``live_server.url`` is the base URL (no trailing slash); ``live_server.app``
  the Flask app. Rows the test commits are visible to the server at once. Combine it
  with ``rq_worker_process`` (tests/fixtures/jobs.py) and ``make_sim_node``
  (tests/fixtures/nodes.py) for end-to-end flows.
- ``page`` / ``context`` / ``browser``: pytest-playwright's fixtures, launched from
  ``shutil.which("chromium")`` headless; contexts may read and write the clipboard and
  accept downloads. A missing ``chromium`` FAILS the tests (it never skips them), and
  ``playwright install`` is never used.
- ``artifacts_dir``: ``test-artifacts/browser/`` at the repository root (git-ignored),
  where tests save screenshots; its path is printed at the end of the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import parametrize_database

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


def pytest_generate_tests(metafunc) -> None:
    """Every test here runs on PostgreSQL and on SQLite (the embedded default)."""
    parametrize_database(metafunc)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Launch Debian's chromium; fail (never skip) when it is not installed."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's `chromium` is not on PATH: install it (apt-get install chromium). "
            "Browser tests need it and never download a browser."
        )
    return {"executable_path": executable, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """Contexts may use the clipboard (copy buttons) and save downloads (.rdp)."""
    return {
        **browser_context_args,
        "permissions": ["clipboard-read", "clipboard-write"],
        "accept_downloads": True,
        "viewport": {"width": 1200, "height": 900},
    }


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests save screenshots (git-ignored)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


def pytest_terminal_summary(terminalreporter) -> None:
    if ARTIFACTS_DIR.is_dir() and any(ARTIFACTS_DIR.iterdir()):
        terminalreporter.write_line(f"browser test artifacts (screenshots): {ARTIFACTS_DIR}")
