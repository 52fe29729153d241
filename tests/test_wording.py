"""Plural forms and human durations (vpsshop/wording.py)."""

from __future__ import annotations

import pytest

from vpsshop.wording import coins, human_duration, plural


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 coins"), (1, "1 coin"), (2, "2 coins"), (-1, "-1 coin"), (25, "25 coins")],
)
def test_coins(count, text):
    assert coins(count) == text


def test_plural_with_an_irregular_form():
    assert plural(1, "more coin", "more coins") == "1 more coin"
    assert plural(3, "entry", "entries") == "3 entries"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1 second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "1 minute"),
        (90, "2 minutes"),
        (901, "15 minutes"),
        (898, "15 minutes"),
        (900, "15 minutes"),
        (3599, "1 hour"),
        (3700, "1 hour 2 minutes"),
        (7200, "2 hours"),
        (90000, "1 day 1 hour"),
    ],
)
def test_human_duration_says_units_and_rounds(seconds, text):
    assert human_duration(seconds) == text
