"""Mail tests: a real SMTP server on 127.0.0.1 is the app's MAIL_URL; pages run on both
databases."""

from __future__ import annotations

import re

import pytest

from tests.conftest import parametrize_database


def pytest_generate_tests(metafunc) -> None:
    parametrize_database(metafunc)


@pytest.fixture
def app_config(smtp_server) -> dict:
    return {
        "MAIL_URL": smtp_server.url,
        "MAIL_RETRY_INTERVALS": "1,1",
        "PUBLIC_URL": "http://shop.test",
    }


LINK_RE = re.compile(r"http://shop\.test(/[^\s<>\"]+)")


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def link_path(message, prefix: str) -> str:
    """The path of the first link in the mail's text that starts with ``prefix``."""
    for path in LINK_RE.findall(text_of(message)):
        if path.startswith(prefix):
            return path
    raise AssertionError(f"no {prefix} link in:\n{text_of(message)}")
