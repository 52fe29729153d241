"""Two deployments on one Redis database never see each other's keys."""

from __future__ import annotations

import uuid

from tests.conftest import make_test_config
from vpsshop import create_app, redis_keys
from vpsshop.queue import get_redis
from vpsshop.services import session_jobs, sweeper


def _app(queue: str):
    return create_app(make_test_config(RQ_QUEUE_NAME=queue))


def test_the_prefix_defaults_to_the_queue_name_and_can_be_set(app):
    assert app.config["REDIS_KEY_PREFIX"] == app.config["RQ_QUEUE_NAME"]
    other = create_app(make_test_config(REDIS_KEY_PREFIX="shop-x"))
    with other.app_context():
        assert redis_keys.key("session-lease", "1") == "shop-x:session-lease:1"


def test_two_apps_on_one_redis_db_keep_apart(app):
    first, second = _app("shop-a"), _app("shop-b")
    sid = uuid.uuid4()
    with first.app_context():
        session_jobs.enqueue_session_job("watch", sid, delay=30)
        assert session_jobs.has_lease(sid)
        assert sweeper.ensure_sweep_scheduled(delay=30)
        with session_jobs.session_run(sid) as mine:
            assert mine
            with second.app_context():
                assert not session_jobs.has_lease(sid)
                # The other shop's run lock and sweep chain are its own.
                with session_jobs.session_run(sid) as theirs:
                    assert theirs
                assert sweeper.ensure_sweep_scheduled(delay=30)
        keys = {key.decode() for key in get_redis().keys("*")}
    ours = {key for key in keys if not key.startswith("rq:")}
    assert ours and all(key.split(":", 1)[0] in ("shop-a", "shop-b") for key in ours), ours
