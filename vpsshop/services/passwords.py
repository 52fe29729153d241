"""Password hashing: argon2id with the cost profile the app's settings name."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context


class HashProfile(NamedTuple):
    """argon2's cost parameters: passes, memory in KiB, lanes."""

    time_cost: int
    memory_cost: int
    parallelism: int


# argon2-cffi 25.1's defaults (RFC 9106's low-memory profile), written out so that an
# upgrade of the library cannot change what production uses.
PRODUCTION_PROFILE = HashProfile(time_cost=3, memory_cost=65536, parallelism=4)
# The cheapest argon2 accepts (memory at least 8 KiB per lane): for the test suite only,
# like cookiecutter-flask's BCRYPT_LOG_ROUNDS = 4.
CHEAPEST_PROFILE = HashProfile(time_cost=1, memory_cost=8, parallelism=1)
SETTINGS = {
    "PASSWORD_HASH_TIME_COST": "time_cost",
    "PASSWORD_HASH_MEMORY_COST": "memory_cost",
    "PASSWORD_HASH_PARALLELISM": "parallelism",
}


def profile_problem(profile: HashProfile) -> str | None:
    """Why argon2 would refuse ``profile``, or ``None`` when it is usable."""
    if profile.time_cost < 1:
        return "PASSWORD_HASH_TIME_COST must be at least 1"
    if profile.parallelism < 1:
        return "PASSWORD_HASH_PARALLELISM must be at least 1"
    if profile.memory_cost < 8 * profile.parallelism:
        return (
            "PASSWORD_HASH_MEMORY_COST must be at least 8 KiB per lane "
            f"(8 x PASSWORD_HASH_PARALLELISM = {8 * profile.parallelism})"
        )
    return None


def profile_from(config: Mapping[str, Any]) -> HashProfile:
    """The profile a settings mapping names (production's for any setting left out)."""
    values = PRODUCTION_PROFILE._asdict()
    values.update({field: int(config[key]) for key, field in SETTINGS.items() if key in config})
    return HashProfile(**values)


def current_profile() -> HashProfile:
    """The running app's profile; production's outside an app (e.g. at import time)."""
    return profile_from(current_app.config) if has_app_context() else PRODUCTION_PROFILE


@lru_cache(maxsize=8)
def _hasher(profile: HashProfile) -> PasswordHasher:
    return PasswordHasher(**profile._asdict())


@lru_cache(maxsize=8)
def _dummy_hash(profile: HashProfile) -> str:
    # Verified against when the email is unknown, with the profile real hashes have, so
    # both answers take the same time.
    return _hasher(profile).hash("vpsshop-dummy-password")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` under the current profile (parameters included)."""
    return _hasher(current_profile()).hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``, whatever profile made it.

    ``None`` (no such user) is checked against a dummy hash, so it costs the same.
    """
    profile = current_profile()
    try:
        _hasher(profile).verify(
            _dummy_hash(profile) if stored_hash is None else stored_hash, password
        )
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made under another profile than the current one."""
    return _hasher(current_profile()).check_needs_rehash(stored_hash)
