"""Reads connection details and failure lines out of a node's log (worker-api.md).

``parse_log`` is a pure function of the log text and the provision action. It reads
the log line by line; each line loses ANSI codes, then any leading timestamps
(``2026-11-26 12:00:01``, ``2026-11-26T12:00:01Z``, ``[12:00:01]``,
``[2026-11-26 12:00:01.123]``, ...) and bullets (``-``, ``*``, ``>``, ``•``), in any order.

Connection details (``Key: value`` or ``Key = value``, keys case-insensitive):

- Keys are compared without case, spaces, ``_``, ``-`` and ``.``, so ``RDP Host``,
  ``rdp_host`` and ``RDPHost`` are the same key; every spelling of worker-api.md is known.
- Values are trimmed; an empty value is ignored. A value longer than 255 characters
  is ignored (the session columns hold 255).
- A port is a whole number 1..65535; anything else is ignored (the previous or the
  default port stays). A host written ``host:port`` gives both; a bad port there is
  ignored and the host kept. IPv6 works as ``[2001:db8::1]:3389`` or bare
  ``2001:db8::1`` (no port); the host is returned without brackets.
- A host value must look like a host name or an IP address (no spaces); otherwise it
  is ignored, so ``Server: starting up`` never passes for a host.
- Each field is last-wins on its own: a later ``Port:`` line overrides the port of an
  earlier ``Host: a:40022`` line and the other way round.
- A missing port defaults to 22 for action 1 (Linux) and 3389 for any other action.

Failure: a line whose first word is ``ERROR``, ``FATAL`` or ``FAILED`` (any case),
followed by ``:``, a space or the end of the line. The *first* such line is reported
(later ones are usually consequences), without its timestamp and bullet, cut to 500
characters.

A failure wins over details: when a failure line appears anywhere in the log the
reading is not ready (``details`` is None), even if the details were complete before it,
because the node said the VM is not usable.

``mask_credentials`` hides the password in a log shown to someone (the page's log panel,
the API's log, the log cache): it reads the lines exactly as ``parse_log`` does and masks
the value of every line ``parse_log`` would take for the password, whatever its spelling.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from itertools import compress

MAX_VALUE_LENGTH = 255
MAX_FAILURE_LENGTH = 500
# Stands for the password in a masked log; masking it again changes nothing.
PASSWORD_MASK = "•••••••• (hidden: see the connection details)"
DEFAULT_PORTS = {1: 22}
DEFAULT_PORT = 3389


@dataclass(frozen=True)
class ConnectionDetails:
    host: str
    port: int
    username: str
    password: str


@dataclass(frozen=True)
class LogReading:
    details: ConnectionDetails | None  # set when host, username and password are known
    failure: str | None  # the failure line (without timestamp) when one appeared

    @property
    def ready(self) -> bool:
        return self.details is not None


# CSI sequences (colours, cursor moves), OSC sequences (titles, links), then other
# two-byte escapes; a lone ESC or CSI left over is dropped as well, so that stripping
# twice changes nothing (a masked log reads as the log it was made from).
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]|\x1b"
    r"|\x9b[0-?]*[ -/]*[@-~]|\x9b"
)

_DATE = r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?|\s?UTC)?"
_STAMP = rf"(?:{_DATE}(?:[T\s]{_TIME})?|{_TIME}){_ZONE}"
# A bare stamp must end at a separator, so "12:00:01abc" is not half-eaten.
_STAMP_RE = re.compile(
    rf"(?:\[\s*{_STAMP}\s*\]|\(\s*{_STAMP}\s*\)|{_STAMP}(?=[\s|:]|$))\s*(?:[|:]\s*)?"
)
_BULLET_RE = re.compile(r"[-*>•]+\s*")

_KEY_VALUE_RE = re.compile(r"(?P<key>[A-Za-z][A-Za-z0-9 _.\-]{0,30}?)\s*[:=]\s*(?P<value>.*)")
_FAILURE_RE = re.compile(r"(?:error|fatal|failed)(?=:|\s|$)", re.IGNORECASE)

_FIELDS = {
    "host": ("rdp host", "rdp", "host", "ip", "ip address", "public ip", "address", "server"),
    "port": ("rdp port", "port"),
    "username": ("username", "user", "login", "rdp user", "rdp username"),
    "password": ("password", "pass", "rdp password"),
}
_KEY_FIELDS = {key.replace(" ", ""): field for field, keys in _FIELDS.items() for key in keys}
# Every password key holds "pass" once its separators are gone (a test checks it): a line
# without it cannot be a password line, and most lines of a long log are skipped at C
# speed. Keys are ASCII; classes, not IGNORECASE, which is twice as slow here.
_MAYBE_PASSWORD_RE = re.compile(r"[pP][\s_.\-]*[aA][\s_.\-]*[sS][\s_.\-]*[sS]")

_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]*[A-Za-z0-9])?\.?")
_BRACKETED_RE = re.compile(r"\[(?P<host>[^\]]+)\](?::(?P<port>.*))?")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves, titles)."""
    return _ANSI_RE.sub("", text)


def _strip_prefix(line: str) -> str:
    """Drop leading whitespace, timestamps and bullets, in any order."""
    line = line.strip()
    # Bounded: a few layers cover "[date] [time] - text"; more is not a real log.
    for _ in range(4):
        match = _STAMP_RE.match(line) or _BULLET_RE.match(line)
        if not match or not match.end():
            break
        line = line[match.end() :]
    return line


def _parse_port(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if 1 <= port <= 65535 else None


def _valid_host(host: str) -> str | None:
    if _HOSTNAME_RE.fullmatch(host) and len(host) <= 253:
        return host
    try:
        return str(ipaddress.IPv6Address(host))
    except ValueError:
        return None


def _split_host(value: str) -> tuple[str | None, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or bare v6 -> (host, port)."""
    bracketed = _BRACKETED_RE.fullmatch(value)
    if bracketed:
        try:
            host = str(ipaddress.IPv6Address(bracketed["host"]))
        except ValueError:
            return None, None
        port_text = bracketed["port"]
        return host, _parse_port(port_text) if port_text is not None else None
    if value.count(":") == 1:
        host, port_text = value.split(":")
        return _valid_host(host), _parse_port(port_text)
    return _valid_host(value), None


def _lines(text: str) -> list[str]:
    """The log's lines as the parser reads them, line breaks kept: ANSI codes go first
    (an escape sequence may hide a line break), and every NUL, which means nothing in a
    log and which PostgreSQL cannot store in the values kept."""
    return strip_ansi(text).replace("\x00", "").splitlines(keepends=True)


def _entry(body: str) -> tuple[str, str, int] | None:
    """``(field, value, where the value starts)`` when ``body`` (a line without its
    prefix) is a ``Key: value`` line of a known key and a value the parser keeps (not
    empty, not too long), else None."""
    match = _KEY_VALUE_RE.match(body)
    if not match:
        return None
    field = _KEY_FIELDS.get(re.sub(r"[\s_.\-]+", "", match["key"]).lower())
    value = match["value"].strip()
    if field is None or not value or len(value) > MAX_VALUE_LENGTH:
        return None
    return field, value, match.start("value")


def mask_credentials(text: str) -> str:
    """``text`` as the parser reads it (no ANSI codes, no NUL) with the value of every
    line the parser takes for the password replaced by ``PASSWORD_MASK``."""
    lines = _lines(text)
    # Only the lines that may be password lines go through the parser's line reading.
    for index in compress(range(len(lines)), map(_MAYBE_PASSWORD_RE.search, lines)):
        line = lines[index]
        body = _strip_prefix(line)
        entry = _entry(body)
        if entry is not None and entry[0] == "password":
            # ``body`` is the end of the line without its break and trailing spaces.
            end = len(line.rstrip())
            lines[index] = line[: end - len(body) + entry[2]] + PASSWORD_MASK + line[end:]
    return "".join(lines)


def parse_log(text: str, action: int) -> LogReading:
    """Parse a whole log; ``action`` (1 Linux, 2 Windows, 3 Test) picks the default port."""
    found: dict[str, str | int] = {}
    for line in _lines(text):
        body = _strip_prefix(line)
        if not body:
            continue
        if _FAILURE_RE.match(body):
            # The first failure line decides: the details no longer matter.
            return LogReading(details=None, failure=body[:MAX_FAILURE_LENGTH])
        entry = _entry(body)
        if entry is None:
            continue
        field, value, _ = entry
        if field == "host":
            host, port = _split_host(value)
            if host is not None:
                found["host"] = host
                if port is not None:
                    found["port"] = port
        elif field == "port":
            port = _parse_port(value)
            if port is not None:
                found["port"] = port
        else:
            found[field] = value

    if not all(k in found for k in ("host", "username", "password")):
        return LogReading(details=None, failure=None)
    details = ConnectionDetails(
        host=str(found["host"]),
        port=int(found.get("port", DEFAULT_PORTS.get(action, DEFAULT_PORT))),
        username=str(found["username"]),
        password=str(found["password"]),
    )
    return LogReading(details=details, failure=None)
