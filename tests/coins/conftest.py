"""Tests in this folder run on PostgreSQL and on SQLite (the embedded default)."""

from __future__ import annotations

from tests.conftest import parametrize_database


def pytest_generate_tests(metafunc) -> None:
    parametrize_database(metafunc)
