"""Checks shared by the free text that users and admins type into stored fields."""

from __future__ import annotations

from vpsshop.errors import ValidationError


def refuse_nul(text: str, what: str, code: str) -> str:
    """``text`` unchanged, or ``ValidationError`` when it holds a NUL character, which
    PostgreSQL cannot store in a text column (it would fail the whole change)."""
    if "\x00" in text:
        raise ValidationError(f"The {what} cannot contain a NUL character.", code=code)
    return text
