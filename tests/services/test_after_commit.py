"""Deferred work runs after the outermost commit only, and a rollback forgets it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from tests.conftest import parametrize_database
from vpsshop.extensions import db
from vpsshop.services.after_commit import AfterCommit


def pytest_generate_tests(metafunc) -> None:
    parametrize_database(metafunc)


@pytest.fixture
def ran(app):
    done: list[list[str]] = []
    work = AfterCommit(f"test_after_commit_{uuid.uuid4().hex}", list, done.append)
    work.install()
    work.install()  # idempotent: one listener, so one run per commit
    yield work, done
    event.remove(Session, "after_commit", work.after_commit)
    event.remove(Session, "after_transaction_end", work.forget)


def test_the_outermost_commit_runs_it_once(app, ran):
    work, done = ran
    db.session.execute(text("SELECT 1"))
    work.pending(db.session).append("a")
    work.pending(db.session).append("b")
    db.session.commit()
    assert done == [["a", "b"]]
    db.session.commit()  # nothing pending any more
    assert done == [["a", "b"]]


def test_a_released_savepoint_waits_for_the_outer_commit(app, ran):
    work, done = ran
    db.session.execute(text("SELECT 1"))
    with db.session.begin_nested():
        work.pending(db.session).append("inner")
    assert done == []
    db.session.commit()
    assert done == [["inner"]]


def test_a_rollback_forgets_it(app, ran):
    work, done = ran
    db.session.execute(text("SELECT 1"))
    work.pending(db.session).append("lost")
    db.session.rollback()
    db.session.execute(text("SELECT 1"))
    db.session.commit()
    assert done == []


def test_a_rolled_back_savepoint_keeps_the_outer_work(app, ran):
    work, done = ran
    db.session.execute(text("SELECT 1"))
    work.pending(db.session).append("outer")
    savepoint = db.session.begin_nested()
    savepoint.rollback()
    db.session.commit()
    assert done == [["outer"]]
