"""Redis connection options: TLS settings for managed Redis add-ons."""

from __future__ import annotations

from types import SimpleNamespace

from vpsshop.limits import storage_options
from vpsshop.queue import redis_options

MANAGED = {"REDIS_URL": "rediss://redis.example:6380/0", "REDIS_SSL_CERT_REQS": "none"}


def test_plain_redis_has_no_tls_options(app):
    assert "ssl_cert_reqs" not in redis_options(app)
    assert storage_options(app.config) == {}


def test_rediss_url_takes_the_certificate_setting():
    # No app (and no connection) is made: only the options are built.
    assert redis_options(SimpleNamespace(config=MANAGED))["ssl_cert_reqs"] == "none"


def test_rate_limit_storage_takes_the_certificate_setting():
    assert storage_options(MANAGED) == {"ssl_cert_reqs": "none"}
