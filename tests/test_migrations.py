"""Migrations: one head, and the migrated schema equals the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from tests.conftest import TEST_DATABASE_URL, ensure_database, make_test_config
from vpsshop import create_app
from vpsshop.extensions import db


def test_one_head(app):
    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _schema_diff(url: str) -> list:
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata
            )
        db.engine.dispose()
    return diff


def test_sqlite_upgrade_matches_models(tmp_path):
    assert _schema_diff(f"sqlite:///{tmp_path / 'fresh.sqlite3'}") == []


@pytest.fixture
def empty_postgres_url():
    url = TEST_DATABASE_URL + "_migrations"
    ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_postgresql_upgrade_matches_models(empty_postgres_url):
    assert _schema_diff(empty_postgres_url) == []
