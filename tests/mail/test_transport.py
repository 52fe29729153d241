"""SMTP transports against real servers on 127.0.0.1: STARTTLS with a login, smtps, and the
refusal to send a password in clear."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from vpsshop.services import mailer


def _message(to="someone@example.com") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "hello"
    message["From"] = "shop@example.com"
    message["To"] = to
    message.set_content("body")
    return message


def _use(app, server) -> None:
    app.config.update(MAIL_URL=server.url, MAIL_TLS_CA_FILE=server.ca_file)


def test_starttls_and_login(app, make_smtp_server):
    server = make_smtp_server(tls="starttls", login=("mailer", "s3cret pass"))
    _use(app, server)
    assert mailer.deliver(_message(), "test").startswith("smtp://127.0.0.1:")
    assert [(env[1], env[2]) for env in server.envelopes] == [(["someone@example.com"], True)]


def test_smtps(app, make_smtp_server):
    server = make_smtp_server(tls="smtps", login=("mailer", "pw"))
    _use(app, server)
    assert mailer.deliver(_message(), "test").startswith("smtps://")
    assert server.envelopes[0][2] is True


def test_wrong_login_is_deferred(app, make_smtp_server):
    server = make_smtp_server(tls="starttls", login=("mailer", "right"))
    app.config.update(
        MAIL_URL=server.url.replace("right", "wrong"),
        MAIL_TLS_CA_FILE=server.ca_file,
        MAIL_TIMEOUT_SECONDS=2,
    )
    # aiosmtpd answers 535 or holds the line after a failed AUTH: either way, a retry later.
    with pytest.raises(mailer.MailDeferred):
        mailer.deliver(_message(), "test")
    assert server.messages == []


def test_untrusted_certificate_is_refused(app, make_smtp_server):
    server = make_smtp_server(tls="smtps")
    app.config.update(MAIL_URL=server.url, MAIL_TLS_CA_FILE="")
    with pytest.raises(mailer.MailDeferred):
        mailer.deliver(_message(), "test")
    assert server.messages == []


def test_no_password_in_clear_to_a_remote_server(app, monkeypatch, smtp_server):
    # The server offers no STARTTLS; seen as a remote host, the login is not attempted.
    monkeypatch.setattr(mailer, "_is_loopback", lambda host: False)
    app.config["MAIL_URL"] = smtp_server.url.replace("smtp://", "smtp://user:pw@")
    with pytest.raises(mailer.MailRefused, match="STARTTLS"):
        mailer.deliver(_message(), "test")


@pytest.mark.parametrize("url", ["http://host", "smtp://", "smtp://host:notaport", "mailto:x@y"])
def test_bad_mail_url(url):
    with pytest.raises(mailer.MailRefused):
        mailer.parse_mail_url(url)


def test_mail_url_parts():
    target = mailer.parse_mail_url("smtp://us%40er:p%3Ass@mail.example.com")
    assert (target.host, target.port, target.username, target.password) == (
        "mail.example.com",
        587,
        "us@er",
        "p:ss",
    )
    assert mailer.parse_mail_url("smtps://mail.example.com").port == 465
