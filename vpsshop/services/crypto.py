"""Encryption at rest for secrets (RDP passwords, node tokens) with MultiFernet."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _dev_key(secret_key: str) -> bytes:
    # Development and tests only: a key derived from SECRET_KEY, never the key itself.
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"vpsshop-dev", info=b"fernet").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def parse_keys(raw: str) -> list[bytes]:
    """Split a comma-separated ENCRYPTION_KEYS value into Fernet keys, newest first."""
    keys = [part.strip().encode() for part in raw.split(",") if part.strip()]
    for key in keys:
        Fernet(key)  # raises ValueError on a malformed key
    return keys


@lru_cache(maxsize=8)
def _fernet_for(encryption_keys: str, secret_key: str) -> MultiFernet:
    # Built once per configuration, not per secret.
    keys = parse_keys(encryption_keys) or [_dev_key(secret_key)]
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    config = current_app.config
    return _fernet_for(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt with any configured key; raises ``InvalidToken`` when none fits."""
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key."""
    return _fernet().rotate(token.encode()).decode()


def is_under_newest_key(token: str) -> bool:
    """Whether ``token`` decrypts with the newest key alone (nothing to rotate)."""
    keys = parse_keys(current_app.config["ENCRYPTION_KEYS"])
    newest = keys[0] if keys else _dev_key(current_app.config["SECRET_KEY"])
    try:
        Fernet(newest).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def generate_key() -> str:
    return Fernet.generate_key().decode()


__all__ = [
    "InvalidToken",
    "decrypt",
    "encrypt",
    "generate_key",
    "is_under_newest_key",
    "parse_keys",
    "rotate",
]
