"""Password hashing profiles: production's defaults kept, hashes verify across profiles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import make_test_config
from vpsshop import create_app
from vpsshop.config import load_config
from vpsshop.models import User
from vpsshop.services import accounts, passwords
from vpsshop.services.passwords import CHEAPEST_PROFILE, PRODUCTION_PROFILE, HashProfile

PRODUCTION_PARAMS = "$argon2id$v=19$m=65536,t=3,p=4$"
CHEAPEST_PARAMS = "$argon2id$v=19$m=8,t=1,p=1$"
PASSWORD = "correct horse battery"


def profile_settings(profile: HashProfile) -> dict[str, int]:
    return {
        "PASSWORD_HASH_TIME_COST": profile.time_cost,
        "PASSWORD_HASH_MEMORY_COST": profile.memory_cost,
        "PASSWORD_HASH_PARALLELISM": profile.parallelism,
    }


@pytest.fixture
def clean_env(monkeypatch):
    for name in passwords.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VPSSHOP_ENV", "development")
    return monkeypatch


def test_production_defaults_are_unchanged(clean_env):
    assert PRODUCTION_PROFILE == HashProfile(time_cost=3, memory_cost=65536, parallelism=4)
    config = load_config()
    assert passwords.profile_from(config) == PRODUCTION_PROFILE
    settings = {k: v for k, v in make_test_config().items() if k not in passwords.SETTINGS}
    with create_app(settings).app_context():
        assert passwords.hash_password(PASSWORD).startswith(PRODUCTION_PARAMS)
    # Outside an app (a module-level hash) production's profile applies too.
    assert passwords.hash_password(PASSWORD).startswith(PRODUCTION_PARAMS)


def test_the_suite_hashes_with_the_cheapest_profile(app):
    assert passwords.current_profile() == CHEAPEST_PROFILE
    assert accounts.hash_password(PASSWORD).startswith(CHEAPEST_PARAMS)


def test_the_environment_sets_the_profile(clean_env):
    clean_env.setenv("PASSWORD_HASH_TIME_COST", "2")
    clean_env.setenv("PASSWORD_HASH_MEMORY_COST", "19456")
    clean_env.setenv("PASSWORD_HASH_PARALLELISM", "1")
    assert passwords.profile_from(load_config()) == HashProfile(2, 19456, 1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"PASSWORD_HASH_TIME_COST": "0"}, "PASSWORD_HASH_TIME_COST must be at least 1"),
        ({"PASSWORD_HASH_PARALLELISM": "0"}, "PASSWORD_HASH_PARALLELISM must be at least 1"),
        ({"PASSWORD_HASH_MEMORY_COST": "7"}, "PASSWORD_HASH_MEMORY_COST must be at least 8 KiB"),
        (
            {"PASSWORD_HASH_MEMORY_COST": "31", "PASSWORD_HASH_PARALLELISM": "4"},
            r"at least 8 KiB per lane \(8 x PASSWORD_HASH_PARALLELISM = 32\)",
        ),
        ({"PASSWORD_HASH_MEMORY_COST": "-8"}, "PASSWORD_HASH_MEMORY_COST must be at least 8"),
        ({"PASSWORD_HASH_TIME_COST": "fast"}, "PASSWORD_HASH_TIME_COST must be an integer"),
        ({"PASSWORD_HASH_MEMORY_COST": "64k"}, "PASSWORD_HASH_MEMORY_COST must be an integer"),
    ],
)
def test_an_unusable_profile_stops_the_app_at_start(clean_env, settings, message):
    for name, value in settings.items():
        clean_env.setenv(name, value)
    with pytest.raises(RuntimeError, match=message):
        load_config()


def test_an_unusable_profile_in_overrides_is_refused_too(clean_env):
    with pytest.raises(RuntimeError, match="PASSWORD_HASH_TIME_COST must be at least 1"):
        load_config({"PASSWORD_HASH_TIME_COST": 0})


def _app_with(profile: HashProfile):
    return create_app(make_test_config(**profile_settings(profile)))


@pytest.mark.parametrize(
    ("made_under", "checked_under"),
    [(PRODUCTION_PROFILE, CHEAPEST_PROFILE), (CHEAPEST_PROFILE, PRODUCTION_PROFILE)],
)
def test_a_hash_verifies_under_another_profile(made_under, checked_under):
    # argon2 writes its parameters into the hash, so the verifier's own do not matter.
    with _app_with(made_under).app_context():
        stored = passwords.hash_password(PASSWORD)
    with _app_with(checked_under).app_context():
        assert passwords.verify_password(stored, PASSWORD)
        assert not passwords.verify_password(stored, PASSWORD + "!")
        assert passwords.needs_rehash(stored)
    with _app_with(made_under).app_context():
        assert not passwords.needs_rehash(stored)


def test_sign_in_redoes_a_hash_made_under_another_profile(app, db):
    with _app_with(PRODUCTION_PROFILE).app_context():
        stored = passwords.hash_password(PASSWORD)
    db.session.add(User(email="old@example.com", password_hash=stored, coins=0))
    db.session.commit()
    assert accounts.authenticate("old@example.com", PASSWORD + "!") is None
    assert db.session.scalar(select(User.password_hash)) == stored  # untouched on a miss
    user = accounts.authenticate("old@example.com", PASSWORD)
    assert user is not None and user.password_hash.startswith(CHEAPEST_PARAMS)
    db.session.expire_all()
    assert db.session.scalar(select(User.password_hash)).startswith(CHEAPEST_PARAMS)
    assert accounts.authenticate("old@example.com", PASSWORD) is not None


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=8,t=1,p=1$x$y"])
def test_no_hash_or_a_broken_one_never_matches(app, stored):
    assert passwords.verify_password(stored, PASSWORD) is False
    assert passwords.verify_password(stored, "vpsshop-dummy-password") is False
