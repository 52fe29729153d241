"""Welcome coins (``SIGNUP_COINS``): credited through the ledger at a self-service sign-up,
once; ``create-user`` gives only the ``--coins`` it is told."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.helpers import DEFAULT_PASSWORD, assert_ledger_invariant, register
from vpsshop.models import CoinTransaction, User


@pytest.fixture
def app_config():
    return {"SIGNUP_COINS": 7}


def test_a_sign_up_gets_the_welcome_coins_once(db, client):
    assert register(client, "new@example.com").status_code == 302
    assert register(client, "new@example.com").status_code == 302  # taken: unchanged
    user = db.session.execute(select(User).where(User.email == "new@example.com")).scalar_one()
    rows = db.session.execute(select(CoinTransaction).where(CoinTransaction.user_id == user.id))
    assert [(r.kind, r.delta) for r in rows.scalars()] == [("signup", 7)]
    assert user.coins == 7
    assert_ledger_invariant()


def test_create_user_gives_only_the_coins_it_is_told(db, runner):
    result = runner.invoke(
        args=["create-user", "ops@example.com", "--password", DEFAULT_PASSWORD, "--coins", "3"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.execute(select(User).where(User.email == "ops@example.com")).scalar_one()
    assert user.coins == 3


@pytest.mark.parametrize("app_config", [{}])
def test_no_welcome_coins_by_default(db, client, app_config):
    assert register(client, "plain@example.com").status_code == 302
    user = db.session.execute(select(User).where(User.email == "plain@example.com")).scalar_one()
    assert user.coins == 0
    assert db.session.execute(select(func.count(CoinTransaction.id))).scalar_one() == 0
