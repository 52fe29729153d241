"""TOTP two-factor: codes computed here from the secret (RFC 6238), each accepted once."""

from __future__ import annotations

import threading
import time

import pyotp
import pytest
from sqlalchemy import select, text

from tests.helpers import enable_two_factor
from vpsshop.errors import Conflict
from vpsshop.extensions import db as _db
from vpsshop.models import ActivityEvent, RecoveryCode, User
from vpsshop.services import crypto, key_rotation, two_factor


def test_setup_is_pending_until_a_right_code(app, make_user):
    user = make_user()
    secret = two_factor.start_setup(user)
    _db.session.commit()
    assert not user.has_2fa
    assert len(secret) == 32 and pyotp.TOTP(secret).now().isdigit()
    uri = two_factor.otpauth_uri(user)
    assert uri.startswith("otpauth://totp/vpsshop:") and f"secret={secret}" in uri
    with pytest.raises(two_factor.WrongCode):
        two_factor.enable(user, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert not user.has_2fa
    codes = two_factor.enable(user, pyotp.TOTP(secret).now())
    _db.session.commit()
    assert user.has_2fa and len(codes) == 10 and len(set(codes)) == 10
    with pytest.raises(Conflict):
        two_factor.start_setup(user)


def test_secret_and_recovery_codes_are_not_stored_in_clear(app, make_user):
    user = make_user()
    secret, codes = enable_two_factor(user)
    raw = _db.session.execute(
        text("SELECT totp_secret_encrypted FROM users WHERE id = :id"), {"id": user.id}
    ).scalar()
    assert secret not in raw and crypto.decrypt(raw) == secret
    hashes = _db.session.execute(select(RecoveryCode.code_hash)).scalars().all()
    assert len(hashes) == 10
    for code in codes:
        assert all(code.replace("-", "") not in h and code not in h for h in hashes)


def test_right_wrong_and_replayed_codes(app, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    now = time.time()
    right = pyotp.TOTP(secret).at(now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(user, wrong, at=now)
    assert two_factor.check_code(user, right, at=now) == "totp"
    _db.session.commit()
    # The same code again in its window: refused, even a few seconds later.
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(user, right, at=now + 5)
    # An older step than the last one used is refused too; the next one passes.
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(user, pyotp.TOTP(secret).at(now - 30), at=now)
    assert two_factor.check_code(user, pyotp.TOTP(secret).at(now + 30), at=now + 30) == "totp"
    # A code two steps away is outside the window.
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(user, pyotp.TOTP(secret).at(now + 120), at=now)


@pytest.mark.parametrize("code", [None, 123456, "", "12345", "1234567", "abcdef", "x" * 5000])
def test_malformed_codes_are_wrong_not_errors(app, make_user, code):
    user = make_user()
    enable_two_factor(user)
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(user, code)


def test_recovery_codes_work_once_each(app, make_user):
    user = make_user()
    _, codes = enable_two_factor(user)
    assert two_factor.check_code(user, codes[0].lower()) == "recovery"  # any case
    _db.session.commit()
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(user, codes[0])
    assert two_factor.check_code(user, codes[1].replace("-", " ")) == "recovery"
    _db.session.commit()
    assert two_factor.remaining_recovery_codes(user) == 8
    kinds = _db.session.execute(
        select(ActivityEvent.kind).where(ActivityEvent.user_id == user.id)
    ).scalars()
    assert list(kinds).count("recovery_code_used") == 2


def test_another_users_recovery_code_is_wrong(app, make_user):
    alice, bob = make_user(), make_user()
    _, alice_codes = enable_two_factor(alice)
    enable_two_factor(bob)
    with pytest.raises(two_factor.WrongCode):
        two_factor.check_code(bob, alice_codes[0])
    assert two_factor.remaining_recovery_codes(alice) == 10


def test_disable_needs_a_right_code_and_forgets_everything(app, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    with pytest.raises(two_factor.WrongCode):
        two_factor.disable(user, "not a code")
    _db.session.rollback()
    assert _db.session.get(User, user.id).has_2fa
    two_factor.disable(user, pyotp.TOTP(secret).now())
    _db.session.commit()
    _db.session.expire_all()
    user = _db.session.get(User, user.id)
    assert not user.has_2fa and user.totp_secret_encrypted is None
    assert _db.session.execute(select(RecoveryCode)).first() is None


@pytest.mark.postgresql_only
def test_one_code_used_at_once_from_two_threads_passes_once(app, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    code = pyotp.TOTP(secret).now()
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        with app.app_context():
            target = _db.session.get(User, user.id)
            barrier.wait()
            try:
                two_factor.check_code(target, code)
                _db.session.commit()
                results.append(True)
            except two_factor.WrongCode:
                _db.session.rollback()
                results.append(False)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == [False, True]


def test_key_rotation_covers_the_totp_secret(app, make_user):
    user = make_user()
    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    app.config["ENCRYPTION_KEYS"] = old_key
    secret, _ = enable_two_factor(user)
    app.config["ENCRYPTION_KEYS"] = f"{new_key},{old_key}"
    reports = {r.label: r for r in key_rotation.rotate_all()}
    assert reports["users.totp_secret_encrypted"].rotated == 1
    app.config["ENCRYPTION_KEYS"] = new_key  # the old key is gone: the secret still reads
    _db.session.expire_all()
    user = _db.session.get(User, user.id)
    assert two_factor.check_code(user, pyotp.TOTP(secret).now()) == "totp"
