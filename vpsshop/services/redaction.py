"""Cuts a secret the admin typed (the cloud-login password) out of a node's answer."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

from markupsafe import escape

REDACTED = "***"
WITHHELD = "(not shown: the node's answer repeats the password)"
# Deeper answers are shown as text: walking them could exhaust the stack (a 500).
MAX_DEPTH = 64
# json.loads keeps a lone surrogate escape ("\ud800"), which has no UTF-8 form: no page
# or API answer could be encoded with it.
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# How the answer may be shown: the admin panel (indented, non-ASCII kept) and the API
# (compact, ASCII-escaped, sorted keys), and the other usual ways of writing JSON.
_RENDERINGS = [
    {"ensure_ascii": ascii_only, "sort_keys": sort_keys, **layout}
    for ascii_only in (True, False)
    for sort_keys in (True, False)
    for layout in ({"separators": (",", ":")}, {}, {"indent": 2})
]


def _forms(secret: str) -> list[str]:
    """The ways a node may write ``secret`` back: as is, JSON-escaped (inside a string),
    HTML-escaped and URL-encoded; longest first, so the longest match is cut."""
    raw = secret.encode("utf-8", "surrogatepass")  # quote() would fail on a lone surrogate
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        str(escape(secret)),
        quote(raw, safe=""),
        quote_plus(raw, safe=""),
    }
    return sorted((form for form in forms if form), key=len, reverse=True)


class Redactor:
    """Replaces every form of one secret, in any letter case."""

    def __init__(self, secret: str):
        self.forms = _forms(secret)
        self._pattern = re.compile("|".join(map(re.escape, self.forms)), re.IGNORECASE)

    def text(self, text: str, *, cut: bool = False) -> str:
        """``text`` with every form of the secret replaced; ``cut``: the text was cut
        short, so an end that starts a form of the secret is replaced as well."""
        text = self._pattern.sub(REDACTED, text)
        if cut:
            # The longest end that starts any form: a shorter one would leave the rest.
            size = max(map(self._started_at_end(text), self.forms))
            if size:
                text = text[:-size] + REDACTED
        return text

    @staticmethod
    def _started_at_end(text: str):
        def size(form: str) -> int:
            for length in range(min(len(form) - 1, len(text)), 0, -1):
                if text[-length:].lower() == form[:length].lower():
                    return length
            return 0

        return size

    def value(self, value: Any, depth: int = 0) -> Any:
        """Parsed JSON with the secret cut out of keys, strings and the JSON text of other
        scalars (a numeric password echoed as a number), lone surrogates made U+FFFD.
        ``ValueError`` when it is nested deeper than ``MAX_DEPTH``."""
        if depth > MAX_DEPTH:
            raise ValueError("the answer is nested too deeply")
        if isinstance(value, str):
            return self.text(_LONE_SURROGATE_RE.sub("\ufffd", value))
        if isinstance(value, list):
            return [self.value(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return {
                self.value(str(key), depth + 1): self.value(item, depth + 1)
                for key, item in value.items()
            }
        if self._pattern.search(json.dumps(value)):
            return REDACTED
        return value

    def shows_secret(self, value: Any) -> bool:
        """True when some way of writing ``value`` as JSON contains the secret, e.g. built
        from the quotes and commas around strings that hold no part of it on their own."""
        return any(self._pattern.search(json.dumps(value, **how)) for how in _RENDERINGS)


def redact_answer(body: Any, secret: str, *, cut: bool = False) -> Any:
    """A node's answer (parsed JSON, or text; ``cut`` when the text was cut short) with no
    trace of ``secret`` in any of its keys, values or renderings; ``WITHHELD`` when the
    secret can only be removed with the answer. ``ValueError`` for JSON nested deeper
    than ``MAX_DEPTH``."""
    if not secret:
        return body
    redactor = Redactor(secret)
    if isinstance(body, str):
        body = redactor.text(_LONE_SURROGATE_RE.sub("\ufffd", body), cut=cut)
    else:
        body = redactor.value(body)
    return WITHHELD if redactor.shows_secret(body) else body
