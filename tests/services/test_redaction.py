"""Cutting the cloud-login password out of a node's answer: keys, values, renderings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsshop.services.redaction import MAX_DEPTH, REDACTED, WITHHELD, Redactor, redact_answer

SECRET = "Hunter2-pässword"


def test_keys_values_and_scalars_are_redacted():
    answer = {SECRET: [f"x{SECRET}y", {"k": SECRET.upper()}], "n": 1, "keep": "me"}
    assert redact_answer(answer, SECRET) == {
        REDACTED: [f"x{REDACTED}y", {"k": REDACTED}],
        "n": 1,
        "keep": "me",
    }
    assert redact_answer({"n": 123456789}, "123456789") == {"n": REDACTED}


def test_a_cut_text_loses_the_start_of_the_password_at_its_end():
    redactor = Redactor(SECRET)
    assert redactor.text("ok " + SECRET[:6], cut=True) == "ok " + REDACTED
    assert redactor.text("ok " + SECRET[:6]) == "ok " + SECRET[:6]  # not cut: a word
    # The longest start wins, whichever escaping it belongs to.
    assert Redactor('a"bc').text('x a"b', cut=True) == "x " + REDACTED


def test_lone_surrogates_become_replacement_characters():
    assert redact_answer({"\udfff": "a\ud800"}, SECRET) == {"\ufffd": "a\ufffd"}
    assert redact_answer("a\ud800", SECRET) == "a\ufffd"


def test_deep_answers_are_refused_not_walked():
    deep: list = []
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(ValueError):
        redact_answer(deep, SECRET)


def test_no_secret_no_change():
    assert redact_answer({"a": "b"}, "") == {"a": "b"}


_RENDERINGS = [
    {"ensure_ascii": True, "sort_keys": True, "separators": (",", ":")},
    {"ensure_ascii": False, "indent": 2},
    {"ensure_ascii": False},
]
secrets = st.text(min_size=4, max_size=20).filter(lambda s: s not in WITHHELD)
pieces = st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none())


@st.composite
def answers_with(draw, secret: str):
    """A JSON answer whose strings and keys sometimes carry the secret, in any case."""
    carried = st.sampled_from([secret, secret.upper(), json.dumps(secret)[1:-1]])
    strings = st.tuples(st.text(max_size=5), carried, st.text(max_size=5)).map("".join)
    leaves = st.one_of(pieces, strings)
    return draw(
        st.recursive(
            leaves,
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.one_of(st.text(max_size=5), strings), inner, max_size=3)
            ),
            max_leaves=8,
        )
    )


@settings(max_examples=200, deadline=None)
@given(st.data(), secrets)
def test_no_rendering_of_a_redacted_answer_shows_the_secret(data, secret):
    answer = redact_answer(data.draw(answers_with(secret)), secret)
    lowered = secret.lower()
    for how in _RENDERINGS:
        assert lowered not in json.dumps(answer, **how).lower()
