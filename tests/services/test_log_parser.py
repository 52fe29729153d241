"""The node-log parser: one table row per rule of worker-api.md, plus properties."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsshop.services import log_parser
from vpsshop.services.log_parser import (
    PASSWORD_MASK,
    ConnectionDetails,
    LogReading,
    mask_credentials,
    parse_log,
    strip_ansi,
)

WORKER_API_EXAMPLE = """\
[12:00:01] Starting VM (action=2)
[12:00:04] Allocating GPU instance...
[12:00:31] Windows is booting
[12:01:10] RDP Host: 203.0.113.7
[12:01:10] RDP Port: 3389
[12:01:10] Username: Administrator
[12:01:10] Password: q9v!Xe2#Lm
[12:01:10] VM ready
"""

USER_PASS = "Username: admin\nPassword: s3cret\n"


def details(host="203.0.113.7", port=3389, username="admin", password="s3cret"):
    return ConnectionDetails(host=host, port=port, username=username, password=password)


# (id, log, action, expected details or None, expected failure or None)
CASES = [
    (
        "worker-api example",
        WORKER_API_EXAMPLE,
        2,
        details(username="Administrator", password="q9v!Xe2#Lm"),
        None,
    ),
    ("empty log", "", 2, None, None),
    (
        "booting, nothing yet",
        "[12:00:01] Starting VM\n[12:00:31] Windows is booting\n",
        2,
        None,
        None,
    ),
    # Every key spelling of the host.
    *[
        (f"host key {key!r}", f"{key}: 203.0.113.7\n{USER_PASS}", 2, details(), None)
        for key in ("RDP Host", "RDP", "Host", "IP", "IP Address", "Public IP", "Address", "Server")
    ],
    # Every key spelling of the port.
    *[
        (
            f"port key {key!r}",
            f"Host: 203.0.113.7\n{key}: 40022\n{USER_PASS}",
            2,
            details(port=40022),
            None,
        )
        for key in ("RDP Port", "Port")
    ],
    # Every key spelling of the username.
    *[
        (
            f"username key {key!r}",
            f"Host: 203.0.113.7\n{key}: admin\nPassword: s3cret",
            2,
            details(),
            None,
        )
        for key in ("Username", "User", "Login", "RDP User", "RDP Username")
    ],
    # Every key spelling of the password.
    *[
        (
            f"password key {key!r}",
            f"Host: 203.0.113.7\nUsername: admin\n{key}: s3cret",
            2,
            details(),
            None,
        )
        for key in ("Password", "Pass", "RDP Password")
    ],
    (
        "keys ignore case",
        "rdp HOST: 203.0.113.7\nUSERNAME: admin\npassWORD: s3cret",
        2,
        details(),
        None,
    ),
    (
        "key spelled with _ - or no space",
        "rdp_host: 203.0.113.7\nRDP-User: admin\nRDPPassword: s3cret\nip_address: 203.0.113.7",
        2,
        details(),
        None,
    ),
    ("key = value", "Host = 203.0.113.7\nUsername=admin\nPassword =s3cret", 2, details(), None),
    (
        "space before the colon",
        "Host : 203.0.113.7\nUsername   :   admin\nPassword:s3cret",
        2,
        details(),
        None,
    ),
    (
        "values are trimmed",
        "Host:   203.0.113.7   \nUsername:\tadmin \nPassword:  s3cret\t",
        2,
        details(),
        None,
    ),
    (
        "password keeps inner spaces, = and :",
        "Host: h.example\nUser: admin\nPassword: a b=c:d # e",
        2,
        details(host="h.example", password="a b=c:d # e"),
        None,
    ),
    (
        "timestamp [HH:MM:SS]",
        "[12:00:01] Host: 203.0.113.7\n[12:00:01] " + USER_PASS,
        2,
        details(),
        None,
    ),
    (
        "timestamp date time",
        "2026-11-26 12:00:01 Host: 203.0.113.7\n"
        "2026-11-26 12:00:01 Username: admin\n2026-11-26 12:00:01 Password: s3cret",
        2,
        details(),
        None,
    ),
    (
        "timestamp ISO with Z",
        "2026-11-26T12:00:01Z Host: 203.0.113.7\n"
        "2026-11-26T12:00:01.123+01:00 Username: admin\n2026-11-26T12:00:01Z Password: s3cret",
        2,
        details(),
        None,
    ),
    (
        "timestamp bracketed date time",
        "[2026-11-26 12:00:01] Host: 203.0.113.7\n"
        "[2026-11-26 12:00:01.5] Username: admin\n[2026-11-26T12:00:01Z] Password: s3cret",
        2,
        details(),
        None,
    ),
    (
        "timestamp followed by | or :",
        "12:00:01 | Host: 203.0.113.7\n12:00:01: Username: admin\n(12:00:01) Password: s3cret",
        2,
        details(),
        None,
    ),
    (
        "bullets - * >",
        "- Host: 203.0.113.7\n* Username: admin\n> Password: s3cret",
        2,
        details(),
        None,
    ),
    (
        "timestamp then bullet",
        "[12:00:01] - Host: 203.0.113.7\n[12:00:01] * Username: admin\n"
        "2026-11-26 12:00:01 > Password: s3cret",
        2,
        details(),
        None,
    ),
    ("bullet then timestamp", "- [12:00:01] Host: 203.0.113.7\n" + USER_PASS, 2, details(), None),
    ("leading indentation", "    Host: 203.0.113.7\n\t" + USER_PASS, 2, details(), None),
    ("host:port gives both", "RDP: 203.0.113.7:40022\n" + USER_PASS, 2, details(port=40022), None),
    (
        "host:port with a name",
        "Host: vm1.example.com:3390\n" + USER_PASS,
        2,
        details(host="vm1.example.com", port=3390),
        None,
    ),
    (
        "IPv6 in brackets with port",
        "RDP: [2001:db8::1]:3390\n" + USER_PASS,
        2,
        details(host="2001:db8::1", port=3390),
        None,
    ),
    (
        "IPv6 in brackets without port",
        "Host: [2001:DB8::1]\n" + USER_PASS,
        1,
        details(host="2001:db8::1", port=22),
        None,
    ),
    (
        "bare IPv6 has no port",
        "IP: 2001:db8::7\n" + USER_PASS,
        2,
        details(host="2001:db8::7"),
        None,
    ),
    (
        "last value wins",
        "Host: 198.51.100.1\nHost: 203.0.113.7\nUsername: old\n"
        "Username: admin\nPassword: x\nPassword: s3cret\nPort: 1\nPort: 3390",
        2,
        details(port=3390),
        None,
    ),
    (
        "a later Port overrides host:port",
        "Host: 203.0.113.7:40022\nPort: 40023\n" + USER_PASS,
        2,
        details(port=40023),
        None,
    ),
    (
        "a later host:port overrides Port",
        "Port: 40023\nHost: 203.0.113.7:40022\n" + USER_PASS,
        2,
        details(port=40022),
        None,
    ),
    ("default port Linux", "Host: 203.0.113.7\n" + USER_PASS, 1, details(port=22), None),
    ("default port Windows", "Host: 203.0.113.7\n" + USER_PASS, 2, details(port=3389), None),
    ("default port Test", "Host: 203.0.113.7\n" + USER_PASS, 3, details(port=3389), None),
    (
        "non-numeric port ignored",
        "Host: 203.0.113.7\nPort: ssh\n" + USER_PASS,
        1,
        details(port=22),
        None,
    ),
    (
        "out-of-range port ignored",
        "Host: 203.0.113.7\nPort: 40022\nPort: 70000\nPort: 0\n" + USER_PASS,
        2,
        details(port=40022),
        None,
    ),
    (
        "bad port in host:port keeps the host",
        "Host: 203.0.113.7:99999\n" + USER_PASS,
        1,
        details(port=22),
        None,
    ),
    (
        "host with spaces ignored",
        "Server: 203.0.113.7\nServer: starting up\n" + USER_PASS,
        2,
        details(),
        None,
    ),
    (
        "empty values ignored",
        "Host: 203.0.113.7\nHost:\nPassword: s3cret\nPassword:  \nUsername: admin",
        2,
        details(),
        None,
    ),
    ("not ready without host", USER_PASS, 2, None, None),
    ("not ready without username", "Host: 203.0.113.7\nPassword: s3cret", 2, None, None),
    ("not ready without password", "Host: 203.0.113.7\nUsername: admin", 2, None, None),
    (
        "unknown keys ignored",
        "Hostname: x\nPasswd: y\nHost: 203.0.113.7\n" + USER_PASS,
        2,
        details(),
        None,
    ),
    (
        "ANSI colour codes stripped",
        "\x1b[1;32mHost:\x1b[0m 203.0.113.7\n"
        "\x1b[33m[12:00:01]\x1b[0m Username: admin\n\x1b]0;title\x07Password: s3cret\x1b[K",
        2,
        details(),
        None,
    ),
    (
        "CRLF line ends",
        "Host: 203.0.113.7\r\nUsername: admin\r\nPassword: s3cret\r\n",
        2,
        details(),
        None,
    ),
    # Failure lines.
    (
        "ERROR: line",
        "[12:00:01] Starting\n[12:00:09] ERROR: no GPU left\n",
        2,
        None,
        "ERROR: no GPU left",
    ),
    ("FATAL word", "2026-11-26 12:00:09 FATAL quota exceeded", 2, None, "FATAL quota exceeded"),
    ("Failed, any case", "- failed to boot the image", 2, None, "failed to boot the image"),
    ("failure word alone", "[12:00:09] Error", 2, None, "Error"),
    ("failure after a bullet and timestamp", "* [12:00:09] fatal: disk", 2, None, "fatal: disk"),
    (
        "other words are no failure words",
        "ERRORS: 0\nErrored later\nNo error here\nBoot failed\nErrorCount: 0",
        2,
        None,
        None,
    ),
    ("the first failure line is reported", "ERROR: first\nFATAL: second", 2, None, "ERROR: first"),
    (
        "failure wins over complete details",
        WORKER_API_EXAMPLE + "[12:01:11] ERROR: lost\n",
        2,
        None,
        "ERROR: lost",
    ),
    (
        "failure before details wins too",
        "ERROR: retrying\n" + WORKER_API_EXAMPLE,
        2,
        None,
        "ERROR: retrying",
    ),
    (
        "long failure line is cut to 500",
        "ERROR: " + "x" * 1000,
        2,
        None,
        ("ERROR: " + "x" * 1000)[:500],
    ),
]


@pytest.mark.parametrize(
    ("log", "action", "expected", "failure"),
    [pytest.param(log, action, exp, fail, id=name) for name, log, action, exp, fail in CASES],
)
def test_parse_log_table(log, action, expected, failure):
    reading = parse_log(log, action)
    assert reading == LogReading(details=expected, failure=failure)
    assert reading.ready is (expected is not None)


def test_overlong_values_are_ignored():
    reading = parse_log("Host: 203.0.113.7\nUsername: admin\nPassword: " + "p" * 256, 2)
    assert reading.details is None


def test_nul_characters_in_a_log_are_dropped():
    log = "Host: 203.0.113.7\nUsername: ad\x00min\nPassword: s3\x00cret\n"
    assert parse_log(log, 2).details == details()
    assert parse_log("ERROR: dis\x00k full", 2).failure == "ERROR: disk full"


def test_strip_ansi():
    assert strip_ansi("\x1b[31mred\x1b[0m \x1b[2Kline\x1b]8;;http://x\x1b\\link") == "red linelink"


def test_a_large_log_parses_quickly():
    noise = "[12:00:01] Copying files... 42%\n" * 30_000  # about 1 MiB
    reading = parse_log(noise + "Host: 203.0.113.7\n" + USER_PASS, 2)
    assert reading.details == details()


# Log-like characters reach the interesting branches far more often than random text.
_LOG_ALPHABET = "[]():=-*>|.\x1b\n\r\t 0123456789TZ:HostPortUserPassERRORFATALFAILED"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=_LOG_ALPHABET, max_size=300)))
def test_never_raises_on_arbitrary_text(text):
    reading = parse_log(text, 2)
    assert isinstance(reading, LogReading)
    assert not (reading.ready and reading.failure)


# Letters, digits, punctuation and symbols: no whitespace, so values need no trimming.
_VALUE = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
    min_size=1,
    max_size=40,
)
_HOST = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}", fullmatch=True)
_PREFIX = st.sampled_from(["", "[12:00:01] ", "2026-11-26 12:00:01 ", "- ", "* ", "> "])
_SEPARATOR = st.sampled_from([": ", " = ", ":", "="])


@st.composite
def _assignments(draw):
    """A shuffled list of (field, key, value) lines covering every field at least once."""
    keys = {
        "host": ["RDP Host", "Host", "IP", "Server"],
        "port": ["RDP Port", "Port"],
        "username": ["Username", "User", "Login"],
        "password": ["Password", "Pass"],
    }
    values = {
        "host": _HOST,
        "port": st.integers(1, 65535),
        "username": _VALUE,
        "password": _VALUE,
    }
    rows = []
    for field in keys:
        for _ in range(draw(st.integers(1, 3))):
            rows.append((field, draw(st.sampled_from(keys[field])), draw(values[field])))
    return draw(st.permutations(rows))


@settings(max_examples=100, deadline=None)
@given(_assignments(), st.data())
def test_last_value_wins(rows, data):
    lines = [
        f"{data.draw(_PREFIX)}{key}{data.draw(_SEPARATOR)}{value}" for _field, key, value in rows
    ]
    reading = parse_log("\n".join(lines), 2)
    last = {field: value for field, _key, value in rows}
    assert reading.failure is None
    assert reading.details == ConnectionDetails(
        host=last["host"], port=last["port"], username=last["username"], password=last["password"]
    )


# ----- mask_credentials: hides exactly what parse_log reads as the password ---------------

# Every way the parser reads a password key: the spellings of worker-api.md, any case,
# with " ", "_", "-" or "." between the words or nothing at all.
PASSWORD_SPELLINGS = [
    "Password",
    "Pass",
    "RDP Password",
    "password",
    "PASSWORD",
    "pass",
    "PASS",
    "rdp_password",
    "RDPPassword",
    "rdppassword",
    "RDP-Password",
    "rdp.password",
    "Rdp  Password",
    "Pass Word",
    "pass_word",
    "P.A.S.S",
    "R-D-P Pass-word",
]
PASSWORD_LINE_SHAPES = [
    "{key}: {value}",
    "{key}:{value}",
    "{key} = {value}",
    "{key}={value}",
    "{key}   :   {value}   ",
    "[12:01:10] {key}: {value}",
    "2026-11-26T12:00:01Z {key}: {value}",
    "- {key}: {value}",
    "[12:01:10] * {key} = {value}",
    "\t{key}: {value}\r",
    "\x1b[33m{key}:\x1b[0m {value}\x1b[K",
]


@pytest.mark.parametrize("key", PASSWORD_SPELLINGS)
@pytest.mark.parametrize("shape", PASSWORD_LINE_SHAPES)
def test_every_password_spelling_the_parser_reads_is_masked(key, shape):
    secret = "q9v!Xe2#Lm"
    log = f"Host: 203.0.113.7\nUsername: admin\n{shape.format(key=key, value=secret)}\nVM ready\n"
    assert parse_log(log, 2).details.password == secret  # the parser reads it ...
    masked = mask_credentials(log)
    assert secret not in masked  # ... so the mask hides it
    assert PASSWORD_MASK in masked and key.strip() in masked  # the line stays readable
    assert "Host: 203.0.113.7\nUsername: admin\n" in masked and masked.endswith("VM ready\n")


@pytest.mark.parametrize(
    "log",
    [
        "Passwd: hunter2",  # not a key of worker-api.md
        "Password hunter2",  # no separator
        "Password:",  # nothing to hide
        "Username: hunter2",
        "ERROR: password hunter2 refused",  # a failure line, not a password
        "Password: " + "p" * 256,  # longer than the parser keeps
        "Copying files... 42%",
    ],
)
def test_lines_the_parser_does_not_read_as_a_password_stay(log):
    assert parse_log("Host: h\nUser: u\n" + log, 2).details is None
    assert mask_credentials(log) == log


def test_every_password_line_is_masked_not_only_the_last():
    log = "Password: first-one\nHost: h\nPass = second-one\nUser: u\nRDP_Password: third-one\n"
    masked = mask_credentials(log)
    assert not any(word in masked for word in ("first-one", "second-one", "third-one"))
    assert masked.count(PASSWORD_MASK) == 3


def test_an_escape_sequence_hiding_a_line_break_does_not_hide_the_password():
    # The parser strips escape sequences before it splits lines; so does the mask.
    log = "Host: h\nUser: u\nPassword: \x1b]0;\x85\x07s3cret-value\n"
    assert parse_log(log, 2).details.password == "s3cret-value"
    assert "s3cret-value" not in mask_credentials(log)


def test_masking_keeps_line_breaks_and_is_idempotent():
    log = "a\r\nPassword: x1\x85b\u2028Pass: x2\rc"
    masked = mask_credentials(log)
    assert masked == f"a\r\nPassword: {PASSWORD_MASK}\x85b\u2028Pass: {PASSWORD_MASK}\rc"
    assert mask_credentials(masked) == masked


def test_every_password_key_passes_the_quick_check():
    # mask_credentials skips lines without "pass" (separators aside) before reading them.
    keys = [key for key, field in log_parser._KEY_FIELDS.items() if field == "password"]
    assert keys and all("pass" in key for key in keys)
    for key in PASSWORD_SPELLINGS:
        assert log_parser._MAYBE_PASSWORD_RE.search(key), key


def test_a_large_log_is_masked_quickly():
    noise = "[12:00:01] Copying files... 42%\n" * 30_000  # about 1 MiB
    masked = mask_credentials(noise + "Password: s3cret\n")
    assert masked.endswith(f"Password: {PASSWORD_MASK}\n") and len(masked) > len(noise)


_MASK_ALPHABET = _LOG_ALPHABET + "word_\x9b\x85\x00"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=_MASK_ALPHABET, max_size=300)))
def test_a_masked_log_reads_like_the_log_with_the_password_masked(text):
    reading = parse_log(text, 2)
    masked = mask_credentials(text)
    if reading.details is not None:
        reading = LogReading(dataclasses.replace(reading.details, password=PASSWORD_MASK), None)
    assert parse_log(masked, 2) == reading
    assert mask_credentials(masked) == masked


@settings(max_examples=100, deadline=None)
@given(_assignments(), st.data())
def test_no_password_the_parser_reads_survives_the_mask(rows, data):
    # Each password value is unique and unlike anything else in the log.
    lines, passwords = [], []
    for index, (field, key, value) in enumerate(rows):
        if field == "password":
            value = f"{value}#pw{index}~"
            passwords.append(value)
        lines.append(f"{data.draw(_PREFIX)}{key}{data.draw(_SEPARATOR)}{value}")
    log = "\n".join(lines)
    masked = mask_credentials(log)
    assert parse_log(log, 2).details.password == passwords[-1]
    assert not any(password in masked for password in passwords)
    kept = [line for line, row in zip(lines, rows, strict=True) if row[0] != "password"]
    assert [line for line in masked.split("\n") if PASSWORD_MASK not in line] == kept
