"""One validator for the free text that users and admins type into stored fields."""

from __future__ import annotations

from vpsshop.errors import ValidationError


def is_storable(text: str) -> bool:
    """True when PostgreSQL can store ``text``: no NUL, and valid Unicode (a lone
    surrogate such as ``"\\udfff"``, which JSON's ``\\u`` escapes can carry, has no UTF-8
    form and would fail the whole change)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def required_text(
    raw: object, *, what: str, max_length: int, code: str, missing: str, missing_code: str = ""
) -> str:
    """``raw`` trimmed: present, at most ``max_length`` characters and storable, or a
    ``ValidationError`` with ``code`` (``missing_code`` and the message ``missing`` when
    it is absent or blank). ``what`` names the field in the messages ("reason")."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(missing, code=missing_code or code)
    text = raw.strip()
    if len(text) > max_length:
        raise ValidationError(f"The {what} is longer than {max_length} characters.", code=code)
    if "\x00" in text:
        raise ValidationError(f"The {what} cannot contain a NUL character.", code=code)
    if not is_storable(text):
        raise ValidationError(
            f"The {what} contains characters that are not valid Unicode.", code=code
        )
    return text
