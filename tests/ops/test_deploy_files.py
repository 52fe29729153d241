"""The deploy files agree with the code: app.json, Procfile, gunicorn.conf.py, README's Deploy."""

from __future__ import annotations

import json
import os
import re
import runpy
from pathlib import Path

import pytest
from honcho.environ import parse_procfile

from vpsshop.config import load_config

REPO = Path(__file__).resolve().parent.parent.parent


class RecordingEnviron(dict):
    """An ``os.environ`` stand-in that remembers every name looked up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def variables_read(monkeypatch) -> set[str]:
    """Every environment variable the app's settings and gunicorn.conf.py read."""
    environ = RecordingEnviron(VPSSHOP_ENV="development")
    monkeypatch.setattr(os, "environ", environ)
    load_config()
    runpy.run_path(str(REPO / "gunicorn.conf.py"))
    # Only the app's own settings, not what a library happens to look up on the way.
    sources = (REPO / "vpsshop" / "config.py").read_text() + (REPO / "gunicorn.conf.py").read_text()
    named = set(re.findall(r"[\"']([A-Z][A-Z0-9_]+)[\"']", sources))
    return environ.read & named


def deploy_section() -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"^## Deploy\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert match, "README.md has no '## Deploy' section"
    return match.group(1)


def test_readme_deploy_table_names_every_variable_the_app_reads(monkeypatch):
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", deploy_section(), re.M))
    documented |= set(re.findall(r"/ `([A-Z][A-Z0-9_]+)`", deploy_section()))
    missing = variables_read(monkeypatch) - documented
    assert not missing, f"add to README's Deploy table: {sorted(missing)}"


def test_procfile_runs_release_web_and_worker():
    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    assert processes["release"] == "flask --app wsgi db upgrade"
    assert processes["web"].startswith("gunicorn --config gunicorn.conf.py ")
    assert "rq-worker" in processes["worker"] and "--no-scheduler" not in processes["worker"]


def test_gunicorn_settings_follow_the_platform(monkeypatch):
    monkeypatch.setenv("PORT", "6123")
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.delenv("HOST", raising=False)
    settings = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert settings["bind"] == "0.0.0.0:6123"
    assert settings["workers"] == 5
    assert settings["worker_class"] == "gthread" and settings["threads"] > 1
    assert settings["accesslog"] == "-"
    assert 0 < settings["graceful_timeout"] < 30


def test_app_json_declares_addons_secrets_and_processes():
    manifest = json.loads((REPO / "app.json").read_text())
    plans = {addon["plan"] for addon in manifest["addons"]}
    assert {"heroku-postgresql", "heroku-redis"} <= plans
    env = manifest["env"]
    assert env["SECRET_KEY"]["generator"] == "secret"
    assert env["ENCRYPTION_KEYS"]["required"] is True
    assert "generate-key" in env["ENCRYPTION_KEYS"]["description"]
    assert env["VPSSHOP_ENV"]["value"] == "production"
    assert set(manifest["formation"]) == {"web", "worker"}


@pytest.mark.parametrize("name", [".python-version"])
def test_runtime_file_pins_python_311(name):
    assert (REPO / name).read_text().strip() == "3.11"
