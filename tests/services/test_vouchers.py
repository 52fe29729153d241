"""Vouchers: codes, creation rules, every refusal of a redemption, and the races."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers import assert_ledger_invariant, coins
from vpsshop.errors import Conflict, NotFound, ServiceError, ValidationError
from vpsshop.extensions import db as _db
from vpsshop.models import AuditEntry, CoinTransaction, Voucher, VoucherRedemption
from vpsshop.services import voucher_attempts, vouchers
from vpsshop.services.voucher_codes import ALPHABET, generate_code, normalise_code

CODE_RE = re.compile(rf"^[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")


@pytest.fixture(autouse=True)
def _invariant_after_each_test(app):
    yield
    assert_ledger_invariant()


def _one(**fields) -> Voucher:
    (voucher,) = vouchers.create_vouchers(actor_id=None, **{"coins": 10, **fields})
    _db.session.commit()
    return voucher


def _count(model) -> int:
    return _db.session.execute(select(func.count()).select_from(model)).scalar_one()


# --- codes --------------------------------------------------------------------------------


def test_generated_codes_are_grouped_and_have_no_look_alikes():
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(CODE_RE.match(code) for code in codes)
    assert not set("".join(codes)) & set("01OILU")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  abcd-efgh-jkmn ", "ABCD-EFGH-JKMN"),
        ("abcdefghjkmn", "ABCD-EFGH-JKMN"),
        ("ABCD EFGH  JKMN", "ABCD-EFGH-JKMN"),
        ("welcome-2026", "WELCOME-2026"),
        ("\tWelcome 2026\n", "WELCOME-2026"),
        ("ＡＢＣＤ-ＥＦＧＨ-ＪＫＭＮ", "ABCD-EFGH-JKMN"),  # full-width letters
    ],
)
def test_typed_codes_are_trimmed_and_case_insensitive(typed, stored):
    assert normalise_code(typed) == stored


@pytest.mark.parametrize("typed", ["", "ab", "a\x00bcd", "x" * 65, "-abcd-", "ab;cd", "é" * 8])
def test_texts_no_code_can_equal_normalise_to_none(typed):
    assert normalise_code(typed) is None


# --- creating -----------------------------------------------------------------------------


def test_a_batch_gets_distinct_codes_one_batch_and_one_audit_entry(db, make_user):
    admin = make_user(admin=True)
    batch = vouchers.create_vouchers(
        coins=25, max_redemptions=2, count=30, note="flyers", actor_id=admin.id
    )
    db.session.commit()
    assert len({voucher.code for voucher in batch}) == 30
    assert {voucher.batch_id for voucher in batch} == {batch[0].batch_id}
    assert all(v.coins == 25 and v.max_redemptions == 2 and v.redemptions == 0 for v in batch)
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.target_type, entry.target_id) == (
        "voucher.create_batch",
        "voucher_batch",
        str(batch[0].batch_id),
    )
    assert batch[0].code not in entry.details  # codes are never written to the audit trail


def test_a_chosen_code_is_normalised_and_unique(db):
    voucher = _one(code=" welcome-2026 ")
    assert voucher.code == "WELCOME-2026"
    with pytest.raises(Conflict) as taken:
        vouchers.create_vouchers(coins=5, code="WELCOME-2026", actor_id=None)
    assert taken.value.code == "voucher_code_taken"
    db.session.rollback()
    with pytest.raises(ValidationError) as two:
        vouchers.create_vouchers(coins=5, code="OTHER-CODE", count=2, actor_id=None)
    assert two.value.code == "invalid_count"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"coins": 0}, "invalid_coins"),
        ({"coins": -5}, "invalid_coins"),
        ({"coins": True}, "invalid_coins"),
        ({"coins": "10"}, "invalid_coins"),
        ({"coins": 10**12}, "invalid_coins"),
        ({"max_redemptions": 0}, "invalid_max_redemptions"),
        ({"count": 0}, "invalid_count"),
        ({"count": 1001}, "invalid_count"),
        ({"expires_at": "yesterday"}, "invalid_expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "invalid_expires_at"),
        ({"expires_at": 12}, "invalid_expires_at"),
        ({"code": "ab"}, "invalid_code"),
        ({"code": 1234}, "invalid_code"),
        ({"note": "a\x00b"}, "invalid_note"),
        ({"note": "n" * 501}, "invalid_note"),
    ],
)
def test_bad_voucher_fields_are_refused(db, fields, code):
    with pytest.raises(ValidationError) as refused:
        vouchers.create_vouchers(actor_id=None, **{"coins": 10, **fields})
    assert refused.value.code == code
    db.session.rollback()
    assert _count(Voucher) == 0


def test_expiry_without_an_offset_is_utc(db):
    voucher = _one(expires_at="2099-01-31T12:00")
    assert voucher.expires_at == datetime(2099, 1, 31, 12, 0, tzinfo=UTC)


# --- redeeming ----------------------------------------------------------------------------


def test_redeem_credits_once_through_the_ledger(db, make_user):
    user = make_user(coins=3)
    voucher = _one(coins=20)
    redeemed = vouchers.redeem(user.id, voucher.code.lower())
    db.session.commit()
    assert redeemed.balance == 23 == coins(user.id)
    entry = redeemed.transaction
    assert (entry.kind, entry.delta, entry.reason) == ("voucher", 20, f"voucher {voucher.code}")
    row = db.session.execute(select(VoucherRedemption)).scalar_one()
    assert (row.voucher_id, row.user_id, row.transaction_id) == (voucher.id, user.id, entry.id)
    db.session.refresh(voucher)
    assert voucher.redemptions == 1


def _refusal(user_id, code) -> ServiceError:
    with pytest.raises(ServiceError) as refused:
        vouchers.redeem(user_id, code)
    _db.session.rollback()
    return refused.value


def test_unknown_inactive_and_expired_codes_answer_alike(db, make_user):
    user = make_user()
    inactive = _one()
    vouchers.deactivate(inactive, actor_id=None)
    expired = _one(expires_at=datetime.now(UTC) + timedelta(hours=1))
    expired.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    answers = [_refusal(user.id, code) for code in ("NOPE-NOPE-NOPE", inactive.code, expired.code)]
    assert {(type(a), a.code, a.status, a.message) for a in answers} == {
        (NotFound, "voucher_not_found", 404, vouchers.NOT_FOUND)
    }
    assert coins(user.id) == 0 and _count(CoinTransaction) == 0


def test_a_used_up_and_an_already_redeemed_code_are_409(db, make_user):
    first, second = make_user(), make_user()
    voucher = _one()
    vouchers.redeem(first.id, voucher.code)
    db.session.commit()
    again = _refusal(first.id, voucher.code)
    assert (again.code, again.status) == ("voucher_already_redeemed", 409)
    used_up = _refusal(second.id, voucher.code)
    assert (used_up.code, used_up.status) == ("voucher_used_up", 409)
    assert coins(first.id) == 10 and coins(second.id) == 0


def test_a_multi_use_code_is_once_per_user(db, make_user):
    users = [make_user() for _ in range(3)]
    voucher = _one(coins=4, max_redemptions=2)
    for user in users[:2]:
        vouchers.redeem(user.id, voucher.code)
        db.session.commit()
    again = _refusal(users[0].id, voucher.code)
    assert again.code == "voucher_already_redeemed"
    assert _refusal(users[2].id, voucher.code).code == "voucher_used_up"
    db.session.refresh(voucher)
    assert voucher.redemptions == 2 and _count(VoucherRedemption) == 2


@pytest.mark.parametrize("raw", [None, "", "   ", 12, ["CODE"], {"code": "x"}])
def test_no_code_at_all_is_a_400_and_not_a_failure(db, make_user, raw):
    user = make_user()
    refused = _refusal(user.id, raw)
    assert (refused.code, refused.status) == ("invalid_code", 400)
    assert voucher_attempts.failures(user.id) == 0


def test_the_eleventh_failure_within_the_window_is_refused(app, db, make_user):
    user, other = make_user(), make_user()
    voucher = _one()
    for _ in range(10):
        assert _refusal(user.id, "WRONG-CODE-0000").code == "voucher_not_found"
    blocked = _refusal(user.id, voucher.code)  # even the right code, for now
    assert (blocked.code, blocked.status) == ("rate_limited", 429)
    assert 3500 <= blocked.retry_after <= 3600
    assert "Try again in" in blocked.message
    # The limit is per account; a success gives its place back.
    vouchers.redeem(other.id, voucher.code)
    db.session.commit()
    assert voucher_attempts.failures(other.id) == 0
    assert voucher_attempts.failures(user.id) == 10


def test_the_window_moves(app, db, make_user, redis_conn):
    app.config["VOUCHER_FAILURE_WINDOW_SECONDS"] = 1
    user = make_user()
    for _ in range(10):
        _refusal(user.id, "WRONG-CODE-0000")
    assert _refusal(user.id, "WRONG-CODE-0000").code == "rate_limited"
    key = next(iter(redis_conn.scan_iter("*voucher-failures*")))
    assert key.decode().startswith(app.config["REDIS_KEY_PREFIX"] + ":")  # redis_keys.key
    # Age every place past the window instead of sleeping.
    for member, score in redis_conn.zrange(key, 0, -1, withscores=True):
        redis_conn.zadd(key, {member: score - 5})
    assert _refusal(user.id, "WRONG-CODE-0000").code == "voucher_not_found"


def test_redis_down_lets_redemption_through(app, db, make_user, closed_port):
    import redis as redis_lib

    app.extensions["redis"] = redis_lib.Redis(host="127.0.0.1", port=closed_port)
    user = make_user()
    voucher = _one()
    assert vouchers.redeem(user.id, voucher.code).balance == 10
    db.session.commit()


# --- races (real threads on PostgreSQL) -----------------------------------------------------


def _ids(users) -> list:
    return [user.id for user in users]


def _redeem(user_id, code):
    """A redemption with its arguments read now, in the test's thread: the racing threads
    must not load attributes of the test session's (expired) objects all at once."""
    return lambda: vouchers.redeem(user_id, code)


def _race(app, actions) -> list[str]:
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(actions))

    def run(action) -> None:
        with app.app_context():
            barrier.wait()
            try:
                action()
                _db.session.commit()
                result = "ok"
            except ServiceError as error:
                _db.session.rollback()
                result = error.code
            finally:
                _db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == len(actions)
    return outcomes


@pytest.mark.postgresql_only
def test_many_users_racing_one_single_use_code_one_wins(app, db, make_user):
    users = [make_user() for _ in range(20)]
    voucher = _one(coins=7)
    outcomes = _race(app, [_redeem(user_id, voucher.code) for user_id in _ids(users)])
    assert outcomes.count("ok") == 1
    assert outcomes.count("voucher_used_up") == 19
    assert sorted(coins(u.id) for u in users) == [0] * 19 + [7]
    assert _count(VoucherRedemption) == 1 and _count(CoinTransaction) == 1


@pytest.mark.postgresql_only
def test_one_user_racing_one_multi_use_code_gets_it_once(app, db, make_user):
    user = make_user()
    voucher = _one(coins=5, max_redemptions=50)
    # Ten: tries in flight hold places in the failure window (ten per account).
    outcomes = _race(app, [_redeem(user.id, voucher.code)] * 10)
    assert outcomes.count("ok") == 1
    assert outcomes.count("voucher_already_redeemed") == 9
    assert coins(user.id) == 5
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).redemptions == 1


@pytest.mark.postgresql_only
def test_a_multi_use_code_is_never_over_redeemed(app, db, make_user):
    users = [make_user() for _ in range(25)]
    voucher = _one(coins=2, max_redemptions=10)
    outcomes = _race(app, [_redeem(user_id, voucher.code) for user_id in _ids(users)])
    assert outcomes.count("ok") == 10
    assert outcomes.count("voucher_used_up") == 15
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).redemptions == 10
    assert _count(VoucherRedemption) == 10
    assert sum(coins(u.id) for u in users) == 20


@pytest.mark.postgresql_only
def test_parallel_guesses_never_pass_the_limit(app, db, make_user):
    user = make_user()
    outcomes = _race(app, [_redeem(user.id, "WRONG-CODE-0000")] * 20)
    assert outcomes.count("voucher_not_found") == 10
    assert outcomes.count("rate_limited") == 10


def test_deactivate_is_audited_once(db, make_user):
    admin = make_user(admin=True)
    voucher = _one()
    assert vouchers.deactivate(voucher, actor_id=admin.id) is True
    assert vouchers.deactivate(voucher, actor_id=admin.id) is False
    db.session.commit()
    actions = db.session.execute(select(AuditEntry.action)).scalars().all()
    assert actions == ["voucher.create", "voucher.deactivate"]
    assert voucher.deactivated_at is not None and not voucher.is_active
