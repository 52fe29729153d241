"""Words shown to people: counts with the right plural form, and human durations.

One place for every page, flash and API message (``coins(1)`` is "1 coin"); templates get
the same functions as the ``coins``, ``plural`` and ``human_duration`` filters.
"""

from __future__ import annotations

from flask import Flask


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "coin")`` -> "1 coin"; ``plural(2, "coin")`` -> "2 coins"."""
    word = singular if abs(count) == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def coins(count: int) -> str:
    """An amount of coins: "1 coin", "0 coins", "25 coins"."""
    return plural(count, "coin")


def _ceil_div(value: int, size: int) -> int:
    return -(-value // size)


def _nearest(value: int, size: int) -> int:
    return (value + size // 2) // size


def _two_units(whole: int, big: str, rest: int, small: str) -> str:
    text = plural(whole, big)
    return f"{text} {plural(rest, small)}" if rest else text


def human_duration(seconds: float) -> str:
    """``898`` -> "15 minutes", ``3700`` -> "1 hour 2 minutes", ``1`` -> "1 second".

    Seconds are rounded up (a wait is never said shorter than it is); past a minute, to
    the nearest minute (a window's extra second does not make "16 minutes"); past a day,
    to the nearest hour.
    """
    seconds = max(1, _ceil_div(int(seconds * 1000), 1000))
    if seconds < 60:
        return plural(seconds, "second")
    minutes = _nearest(seconds, 60)
    if minutes < 60:
        return plural(minutes, "minute")
    if minutes < 24 * 60:
        return _two_units(minutes // 60, "hour", minutes % 60, "minute")
    hours = _nearest(minutes, 60)
    return _two_units(hours // 24, "day", hours % 24, "hour")


def install(app: Flask) -> None:
    """Register the wording functions as Jinja filters of ``app``."""
    app.jinja_env.filters.update(coins=coins, plural=plural, human_duration=human_duration)
