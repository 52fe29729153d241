"""Delivering one built e-mail: over SMTP (``MAIL_URL``) or into the development outbox.

``smtp://user:pass@host:587`` upgrades with STARTTLS when the server offers it (and refuses
to send a password in clear to a server that is not on loopback); ``smtps://…:465``
speaks TLS from the start. Errors come out as ``MailDeferred`` (worth another try: a 4xx
answer, a dropped or refused connection) or ``MailRefused`` (a 5xx answer: trying again
gets the same).
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class MailError(Exception):
    """A message was not delivered; ``str()`` is a readable reason without secrets."""


class MailDeferred(MailError):
    """Not delivered this time; another try may work."""


class MailRefused(MailError):
    """Refused for good by the server (or by the configuration)."""


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str
    password: str


def parse_mail_url(url: str) -> SmtpTarget:
    """Split ``MAIL_URL``; raises ``MailRefused`` for a URL that is not smtp:// or smtps://."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise MailRefused("MAIL_URL must look like smtp://user:pass@host:587 or smtps://…:465")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise MailRefused("MAIL_URL has an invalid port") from None
    return SmtpTarget(
        parts.scheme,
        parts.hostname,
        port,
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


def _tls_context() -> ssl.SSLContext:
    cafile = current_app.config["MAIL_TLS_CA_FILE"] or None
    return ssl.create_default_context(cafile=cafile)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _classify(error: Exception) -> MailError:
    """A readable, secret-free error, deferred or refused by the SMTP reply code."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        text = f"recipient refused ({', '.join(str(c) for c in codes)})"
        return MailRefused(text) if codes and min(codes) >= 500 else MailDeferred(text)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # A wrong password is an operator's to fix; keep trying while they do.
        return MailDeferred(f"SMTP login refused ({error.smtp_code})")
    if isinstance(error, smtplib.SMTPResponseException):
        detail = error.smtp_error.decode("utf-8", "replace") if error.smtp_error else ""
        text = f"SMTP {error.smtp_code}: {detail}"[:300]
        return MailRefused(text) if error.smtp_code >= 500 else MailDeferred(text)
    if isinstance(error, ssl.SSLError):
        return MailDeferred(f"TLS failed: {error.reason or error}"[:300])
    return MailDeferred(f"SMTP connection failed: {type(error).__name__}: {error}"[:300])


def _send_smtp(message: EmailMessage, target: SmtpTarget) -> None:
    timeout = current_app.config["MAIL_TIMEOUT_SECONDS"]
    try:
        if target.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=timeout, context=_tls_context()
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with client:
            client.ehlo()
            secure = target.scheme == "smtps"
            if not secure and client.has_extn("starttls"):
                client.starttls(context=_tls_context())
                client.ehlo()
                secure = True
            if target.username:
                if not secure and not _is_loopback(target.host):
                    raise MailRefused(
                        "the SMTP server offers no STARTTLS: the password is not sent in clear"
                    )
                client.login(target.username, target.password)
            client.send_message(message)
    except MailError:
        raise
    except (smtplib.SMTPException, OSError) as error:
        raise _classify(error) from None


def _write_outbox(message: EmailMessage, kind: str) -> Path:
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{stamp}-{kind}.eml"
    path.write_bytes(message.as_bytes())
    return path


def deliver(message: EmailMessage, kind: str) -> str:
    """Send ``message``; returns where it went (for the log). Raises ``MailError``."""
    config = current_app.config
    if config["MAIL_URL"]:
        target = parse_mail_url(config["MAIL_URL"])
        _send_smtp(message, target)
        return f"{target.scheme}://{target.host}:{target.port}"
    if config["ENV_NAME"] in {"development", "testing"}:
        return str(_write_outbox(message, kind))
    raise MailDeferred("MAIL_URL is not set: nothing can be sent")
