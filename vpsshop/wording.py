"""Words shown to people: counts with the right plural form, durations and moments.

One place for every page, flash and API message (``coins(1)`` is "1 coin"); templates get
the same functions as the ``coins``, ``plural``, ``human_duration`` and ``time_tag``
filters. A moment is a ``<time>`` element in UTC; static/js/local-time.js shows it in the
reader's local time and keeps the UTC one in its tooltip.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup, escape

# What a <time data-local-time="..."> shows: the date and time, or the time alone.
TIME_FORMATS = {"datetime": "%Y-%m-%d %H:%M:%S UTC", "time": "%H:%M UTC"}


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


def utc_text(moment: datetime, style: str = "datetime") -> str:
    """``moment`` in UTC, to the second ("2026-12-02 01:48:07 UTC"), or its time alone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMATS[style])


def time_tag(moment: datetime | None, style: str = "datetime") -> Markup:
    """``<time>`` of ``moment``: UTC as text and tooltip until the script makes it local."""
    if moment is None:
        return Markup("")
    if moment.tzinfo is None:  # RQ's job times are naive UTC
        moment = moment.replace(tzinfo=UTC)
    text = escape(utc_text(moment, style))
    iso = escape(moment.astimezone(UTC).isoformat())
    return Markup(
        f'<time datetime="{iso}" data-local-time="{escape(style)}" title="{text}">{text}</time>'
    )


def install(app: Flask) -> None:
    """Register the wording functions as Jinja filters of ``app``."""
    app.jinja_env.filters.update(
        coins=coins, plural=plural, human_duration=human_duration, time_tag=time_tag
    )
