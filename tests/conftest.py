"""Fixtures: a real PostgreSQL database (or a migrated SQLite file) and a real Redis db index,
clean for every test.

The ``app`` fixture runs on PostgreSQL unless a folder's conftest parametrizes ``database``
(``parametrize_database`` below): tests/shop, tests/auth, tests/admin and tests/browser run
on both, since SQLite is the embedded default every ``make run`` demo gets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.helpers import DEFAULT_PASSWORD, get_csrf_token
from vpsshop import create_app
from vpsshop.extensions import db as _db
from vpsshop.models import User, VpsProduct, Worker
from vpsshop.services import accounts, ledger
from vpsshop.services.passwords import CHEAPEST_PROFILE

pytest_plugins = [
    "tests.fixtures.nodes",
    "tests.fixtures.jobs",
    "tests.fixtures.live_server",
    "tests.fixtures.stripe",
    "tests.fixtures.smtp",
]

# Under ``pytest -n N`` (pytest-xdist) each worker process gets its own database and
# Redis db index beside the configured ones: gw0 the configured, gw1 the next, and so on.
XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def _per_worker_database(url: str) -> str:
    if not XDIST_WORKER:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_w{XDIST_WORKER}").render_as_string(
        hide_password=False
    )


def _per_worker_redis(url: str) -> str:
    base, index = url.rsplit("/", 1)
    return f"{base}/{int(index) + XDIST_WORKER}"


TEST_DATABASE_URL = _per_worker_database(
    os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/vpsshop_test")
)
TEST_REDIS_URL = _per_worker_redis(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13"))
# Mails of tests without an SMTP server of their own land here, never in instance/.
TEST_OUTBOX_DIR = Path(tempfile.gettempdir()) / f"vpsshop-test-outbox-{os.getpid()}"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` when it does not exist."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


DATABASES = ("postgresql", "sqlite")


def parametrize_database(metafunc: pytest.Metafunc) -> None:
    """``pytest_generate_tests`` body for folders whose tests run on both databases.

    A test marked ``postgresql_only`` (real concurrency: SQLite ignores FOR UPDATE) keeps
    PostgreSQL alone.
    """
    if "database" not in metafunc.fixturenames:
        return
    only_pg = metafunc.definition.get_closest_marker("postgresql_only") is not None
    metafunc.parametrize("database", DATABASES[:1] if only_pg else DATABASES, indirect=True)


def make_test_config(**overrides) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": "test-secret-key",
        "SERVER_NAME": None,
        "MAIL_OUTBOX_DIR": str(TEST_OUTBOX_DIR),
        # The cheapest argon2 profile: hashing is most of a sign-in's time (production's
        # defaults are asserted in tests/services/test_passwords.py).
        "PASSWORD_HASH_TIME_COST": CHEAPEST_PROFILE.time_cost,
        "PASSWORD_HASH_MEMORY_COST": CHEAPEST_PROFILE.memory_cost,
        "PASSWORD_HASH_PARALLELISM": CHEAPEST_PROFILE.parallelism,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def _schema() -> None:
    """Build the schema once per run with the real migrations."""
    from flask_migrate import upgrade

    ensure_database(TEST_DATABASE_URL)
    app = create_app(make_test_config())
    with app.app_context():
        with _db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file built once per run with the real migrations; each test gets a copy."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "vpsshop.sqlite3"
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        _db.engine.dispose()
    return path


def _truncate_all() -> None:
    tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
    with _db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def database(request) -> str:
    """Which database the ``app`` runs on: "postgresql" unless parametrized."""
    return getattr(request, "param", "postgresql")


@pytest.fixture
def database_url(request, database, tmp_path) -> str:
    """The ``app``'s database URL: the PostgreSQL test database, or a fresh SQLite copy."""
    if database == "sqlite":
        target = tmp_path / "vpsshop.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        return f"sqlite:///{target}"
    request.getfixturevalue("_schema")
    return TEST_DATABASE_URL


@pytest.fixture
def app(database, database_url, app_config) -> Iterator[Flask]:
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=database_url, **app_config))
    with app.app_context():
        if database == "postgresql":
            _truncate_all()
        redis.Redis.from_url(TEST_REDIS_URL).flushdb()
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


class FreshContextClient(FlaskClient):
    """Runs each request in its own app context, as a real server does.

    The test itself holds an app context for database access; without this, every
    request would share that context's ``g`` (and Flask-WTF's cached CSRF token).
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app) -> FlaskClient:
    app.test_client_class = FreshContextClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def redis_conn(app) -> redis.Redis:
    return app.extensions["redis"]


@pytest.fixture
def make_user(app):
    """Factory: ``make_user(coins=10, admin=True)`` -> committed ``User``."""

    def factory(
        email: str | None = None,
        *,
        password: str = DEFAULT_PASSWORD,
        coins: int = 0,
        admin: bool = False,
    ) -> User:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        user = accounts.create_user(email, password, is_admin=admin)
        if coins:
            ledger.add(user.id, coins, reason="test grant")
        _db.session.commit()
        return user

    return factory


@pytest.fixture
def login(client):
    """Sign ``user`` in through the real login form."""

    def do_login(user: User, password: str = DEFAULT_PASSWORD):
        token = get_csrf_token(client)
        response = client.post(
            "/login", data={"email": user.email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do_login


@pytest.fixture
def api_token(client):
    """Factory: a Bearer token for ``user`` from the real token endpoint."""

    def issue(user: User, password: str = DEFAULT_PASSWORD) -> str:
        response = client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": password}
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["token"]

    return issue


@pytest.fixture
def make_worker(app):
    """Factory: ``make_worker(base_url, max_sessions=3, token=None)`` -> committed Worker."""

    def factory(
        base_url: str = "http://127.0.0.1:9", *, max_sessions: int = 3, token: str | None = None
    ) -> Worker:
        from vpsshop.services.crypto import encrypt

        worker = Worker(
            name=f"node-{uuid.uuid4().hex[:8]}",
            base_url=base_url,
            max_sessions=max_sessions,
            token_encrypted=encrypt(token) if token else None,
        )
        _db.session.add(worker)
        _db.session.commit()
        return worker

    return factory


@pytest.fixture
def make_product(app):
    """Factory: ``make_product(workers, price=5, action=2, duration=None)`` -> VpsProduct."""

    def factory(
        workers: list[Worker],
        *,
        price: int = 5,
        action: int = 2,
        duration: int | None = None,
        active: bool = True,
        name: str | None = None,
    ) -> VpsProduct:
        product = VpsProduct(
            name=name or f"Product {uuid.uuid4().hex[:6]}",
            price_coins=price,
            provision_action=action,
            duration_minutes=duration,
            is_active=active,
            workers=list(workers),
        )
        _db.session.add(product)
        _db.session.commit()
        return product

    return factory
