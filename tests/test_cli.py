"""The create-user command."""

from __future__ import annotations

from sqlalchemy import select

from tests.helpers import assert_ledger_invariant
from vpsshop.models import CoinTransaction, User


def test_create_user_with_coins_goes_through_ledger(runner, db):
    result = runner.invoke(
        args=[
            "create-user",
            "Admin@Example.com",
            "--password",
            "s3cret-pass",
            "--admin",
            "--coins",
            "50",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.execute(select(User)).scalar_one()
    assert (user.email, user.is_admin, user.coins) == ("admin@example.com", True, 50)
    entry = db.session.execute(select(CoinTransaction)).scalar_one()
    assert (entry.delta, entry.kind) == (50, "admin_add")
    assert_ledger_invariant()


def test_duplicate_email_fails_clearly(runner, db):
    assert runner.invoke(args=["create-user", "a@b.co", "--password", "s3cret-pass"]).exit_code == 0
    result = runner.invoke(args=["create-user", "A@B.CO", "--password", "other-pass"])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert db.session.query(User).count() == 1


def test_bad_values_fail_and_write_nothing(runner, db):
    for args in (
        ["create-user", "nope", "--password", "s3cret-pass"],
        ["create-user", "a@b.co", "--password", "short"],
        ["create-user", "a@b.co", "--password", "s3cret-pass", "--coins", "-5"],
        ["create-user", "a@b.co", "--password", "s3cret-pass", "--coins", "lots"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert "Error" in result.output
    assert db.session.query(User).count() == 0
    assert db.session.query(CoinTransaction).count() == 0
