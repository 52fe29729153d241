"""Redis connection options: TLS settings for managed Redis add-ons."""

from __future__ import annotations

from tests.conftest import make_test_config
from vpsshop import create_app
from vpsshop.queue import redis_options


def test_plain_redis_has_no_tls_options(app):
    assert "ssl_cert_reqs" not in redis_options(app)


def test_rediss_url_takes_the_certificate_setting(_schema):
    app = create_app(
        make_test_config(REDIS_URL="rediss://127.0.0.1:1/0", REDIS_SSL_CERT_REQS="none")
    )
    assert redis_options(app)["ssl_cert_reqs"] == "none"
    pool_kwargs = app.extensions["redis"].connection_pool.connection_kwargs
    assert pool_kwargs["ssl_cert_reqs"] == "none"
