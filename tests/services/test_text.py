"""The one validator of required free text: the coin reason, product and worker names."""

from __future__ import annotations

import pytest

from vpsshop.errors import ValidationError
from vpsshop.services import ledger, products, workers
from vpsshop.services.text import is_storable, required_text

# (check, the field's name in messages, its limit, its "missing" code and message)
FIELDS = {
    "coin reason": (
        ledger._check_reason,
        "reason",
        500,
        "reason_required",
        "A reason is required.",
    ),
    "product name": (products.check_name, "name", 100, "invalid_name", "A product needs a name."),
    "worker name": (
        workers._check_name,
        "worker name",
        100,
        "invalid_name",
        "A worker name is required.",
    ),
}
CODES = {
    "coin reason": "invalid_reason",
    "product name": "invalid_name",
    "worker name": "invalid_name",
}


def _refusal(check, raw) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check(raw)
    return caught.value


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_field_keeps_its_codes_and_messages(app, field):
    check, what, limit, missing_code, missing = FIELDS[field]
    code = CODES[field]
    assert check("  ok text  ") == "ok text"
    assert check("x" * limit) == "x" * limit
    for raw in (None, 7, "", "   ", ["x"]):
        error = _refusal(check, raw)
        assert (error.code, error.message) == (missing_code, missing)
    error = _refusal(check, "x" * (limit + 1))
    assert (error.code, error.message) == (code, f"The {what} is longer than {limit} characters.")
    error = _refusal(check, "a\x00b")
    assert (error.code, error.message) == (code, f"The {what} cannot contain a NUL character.")
    for raw in ("\udfff", "ok \ud800 text", "\udc00\ud800"):
        error = _refusal(check, raw)
        assert error.code == code and error.message == (
            f"The {what} contains characters that are not valid Unicode."
        )


def test_required_text_defaults_the_missing_code_to_the_code():
    with pytest.raises(ValidationError) as caught:
        required_text(" ", what="thing", max_length=5, code="invalid_thing", missing="Need it.")
    assert caught.value.code == "invalid_thing" and caught.value.message == "Need it."


@pytest.mark.parametrize(
    ("text", "storable"),
    [("plain", True), ("émoji 😀", True), ("\x00", False), ("\udfff", False), ("\ud83d", False)],
)
def test_is_storable(text, storable):
    assert is_storable(text) is storable
