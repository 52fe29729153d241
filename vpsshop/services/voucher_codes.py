"""Voucher codes: random ``XXXX-XXXX-XXXX`` without look-alike characters, and the one
normalisation every lookup goes through (trimmed, case-insensitive)."""

from __future__ import annotations

import re
import secrets
import unicodedata

# No 0/O, 1/I/L, nor U (read as V): a code read aloud or typed from paper comes out right.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 3
GROUP_LENGTH = 4
RANDOM_LENGTH = GROUPS * GROUP_LENGTH
# Codes an admin picks ("WELCOME-2026"): letters, digits and inner dashes.
CUSTOM_CODE_RE = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{2,30})[A-Z0-9]$")
MAX_INPUT_LENGTH = 64


def generate_code() -> str:
    """A new random code, e.g. ``"7KQM-X3PD-H9TA"`` (30^12, about 59 bits)."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, RANDOM_LENGTH, GROUP_LENGTH))


def normalise_code(raw: str) -> str | None:
    """What a user typed, as codes are stored: trimmed, upper case, inner spaces as
    dashes, and a random code typed without its dashes given them back. None for a text
    no stored code can equal (too long, control characters)."""
    if len(raw) > MAX_INPUT_LENGTH:
        return None
    text = unicodedata.normalize("NFKC", raw).strip().upper()
    text = re.sub(r"[\s-]+", "-", text)
    if not CUSTOM_CODE_RE.match(text):
        return None
    if len(text) == RANDOM_LENGTH and all(ch in ALPHABET for ch in text):
        text = "-".join(text[i : i + GROUP_LENGTH] for i in range(0, RANDOM_LENGTH, GROUP_LENGTH))
    return text


def is_valid_custom_code(code: str) -> bool:
    """True for a code an admin may choose (4-32 letters, digits and inner dashes)."""
    return bool(CUSTOM_CODE_RE.match(code))
