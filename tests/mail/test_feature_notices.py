"""Notices of the other features' events: coins from a voucher, two-factor changes, and
the e-mail verification gate in front of vouchers and checkouts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.helpers import enable_two_factor, totp_code
from vpsshop.extensions import db
from vpsshop.models import CoinTransaction, MailMessage, User
from vpsshop.services import payments, two_factor, vouchers
from vpsshop.services.email_verification import EmailUnverified


def _mails(user_id, kind: str) -> list[MailMessage]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(MailMessage).where(MailMessage.user_id == user_id, MailMessage.kind == kind)
        ).scalars()
    )


def test_a_redeemed_voucher_mails_coins_credited_once(make_user):
    user = make_user(coins=0)
    (voucher,) = vouchers.create_vouchers(coins=7, actor_id=None)
    db.session.commit()
    vouchers.redeem(user.id, voucher.code)
    db.session.commit()
    (mail,) = _mails(user.id, "coins_credited")
    assert '"source": "voucher"' in mail.context and '"amount": 7' in mail.context
    assert voucher.code not in mail.context  # a code is as good as coins


def test_turning_two_factor_on_and_off_mails_each_change(make_user):
    user = make_user()
    secret, _codes = enable_two_factor(user)
    db.session.commit()
    two_factor.disable(db.session.get(User, user.id), totp_code(secret))
    db.session.commit()
    changes = sorted(mail.context for mail in _mails(user.id, "2fa_changed"))
    assert len(changes) == 2
    assert any("turned on" in c for c in changes) and any("turned off" in c for c in changes)
    assert all(secret not in c for c in changes)


@pytest.fixture
def unverified(app, make_user):
    app.config["REQUIRE_EMAIL_VERIFICATION"] = True
    user = make_user(coins=0)
    user.email_verified_at = None
    db.session.commit()
    return user


def test_an_unverified_address_cannot_redeem_a_voucher(unverified):
    (voucher,) = vouchers.create_vouchers(coins=5, actor_id=None)
    db.session.commit()
    with pytest.raises(EmailUnverified):
        vouchers.redeem(unverified.id, voucher.code)
    db.session.rollback()
    credits = db.session.execute(
        select(func.count()).where(CoinTransaction.user_id == unverified.id)
    ).scalar_one()
    assert credits == 0 and db.session.get(User, unverified.id).coins == 0


def test_an_unverified_address_cannot_start_a_checkout(unverified):
    with pytest.raises(EmailUnverified):
        payments.start_checkout(unverified, "00000000-0000-4000-8000-000000000000")
