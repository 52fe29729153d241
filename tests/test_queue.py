"""Redis connection options (TLS for managed add-ons) and the three RQ queues: node watch
ticks first, in the order they became due, then the lifecycle queue, then mail, which
workers take only when the other two are empty."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

from tests.reliability.conftest import wait_for
from vpsshop.extensions import db as _db
from vpsshop.limits import storage_options
from vpsshop.models import MailMessage
from vpsshop.queue import (
    DEFAULT_JOB_OPTIONS,
    get_mail_queue,
    get_queue,
    get_redis,
    get_watch_queue,
    redis_options,
    worker_queues,
)
from vpsshop.services import notices, session_jobs

ORDER_KEY = "test-queue-order"
MANAGED = {"REDIS_URL": "rediss://redis.example:6380/0", "REDIS_SSL_CERT_REQS": "none"}


def test_plain_redis_has_no_tls_options(app):
    assert "ssl_cert_reqs" not in redis_options(app)
    assert storage_options(app.config) == {}


def test_rediss_url_takes_the_certificate_setting():
    # No app (and no connection) is made: only the options are built.
    assert redis_options(SimpleNamespace(config=MANAGED))["ssl_cert_reqs"] == "none"


def test_rate_limit_storage_takes_the_certificate_setting():
    assert storage_options(MANAGED) == {"ssl_cert_reqs": "none"}


def note(label: str) -> None:
    """A job that records that it ran, in the order jobs ran."""
    get_redis().rpush(ORDER_KEY, label)


def test_the_queues_are_named_after_rq_queue_name(app):
    assert get_queue().name == app.config["RQ_QUEUE_NAME"]
    assert get_mail_queue().name == app.config["RQ_QUEUE_NAME"] + "-mail"
    assert get_watch_queue().name == app.config["RQ_QUEUE_NAME"] + "-watch"
    assert [q.name for q in worker_queues()] == [
        get_watch_queue().name,
        get_queue().name,
        get_mail_queue().name,
    ]


def test_ticks_wait_first_in_first_out_ahead_of_the_lifecycle_queue(app, run_jobs):
    lifecycle, watch = get_queue(), get_watch_queue()
    provision = lifecycle.enqueue(f"{__name__}.note", "provision", **DEFAULT_JOB_OPTIONS)
    # Three nodes' first ticks, due now: in the order they became due, not newest first.
    ticks = [
        session_jobs.join_node_watch(
            uuid.uuid4(), uuid.uuid4(), time.monotonic(), None, at_once=True
        )
        for _ in range(3)
    ]
    assert watch.job_ids == ticks
    assert lifecycle.job_ids == [provision.id]
    watch.empty()
    for n in range(2):
        watch.enqueue(f"{__name__}.note", f"tick-{n}", **DEFAULT_JOB_OPTIONS)
    assert run_jobs()
    order = [label.decode() for label in get_redis().lrange(ORDER_KEY, 0, -1)]
    assert order == ["tick-0", "tick-1", "provision"]


def test_a_tick_due_again_at_once_waits_behind_the_lifecycle_jobs(app):
    interval = app.config["WATCH_INTERVAL_SECONDS"]
    on_time = session_jobs.join_node_watch(uuid.uuid4(), uuid.uuid4(), time.monotonic(), None)
    assert on_time in get_watch_queue().scheduled_job_registry
    # The read that asks took longer than an interval (a slow node): due at once.
    late_read = time.monotonic() - interval - 1
    late = session_jobs.join_node_watch(uuid.uuid4(), uuid.uuid4(), late_read, None)
    assert late in get_queue().scheduled_job_registry
    assert late not in get_watch_queue().scheduled_job_registry


def test_a_recorded_notice_is_sent_from_the_mail_queue(app, db, make_user, run_jobs, smtp_server):
    app.config["MAIL_URL"] = smtp_server.url
    user = make_user()
    notices.notify(user.id, "server_ready", {"product_name": "Linux"}, "event-1")
    _db.session.commit()
    assert get_queue().count == 0
    [job_id] = get_mail_queue().get_job_ids()
    assert job_id.startswith("mail-")
    assert run_jobs()
    assert len(smtp_server.to(user.email)) == 1


def test_a_worker_takes_every_lifecycle_job_before_any_mail_job(app, run_jobs):
    mail, lifecycle = get_mail_queue(), get_queue()
    # The mail jobs were there first; a worker still runs the lifecycle ones before them.
    for n in range(3):
        mail.enqueue(f"{__name__}.note", f"mail-{n}", **DEFAULT_JOB_OPTIONS)
    for n in range(2):
        lifecycle.enqueue(f"{__name__}.note", f"tick-{n}", **DEFAULT_JOB_OPTIONS)
    assert run_jobs()
    order = [label.decode() for label in get_redis().lrange(ORDER_KEY, 0, -1)]
    assert order == ["tick-0", "tick-1", "mail-0", "mail-1", "mail-2"]


def test_the_worker_process_serves_the_mail_queue(app, db, make_user, start_rq_worker, smtp_server):
    user = make_user()
    message = notices.notify(user.id, "server_ready", {"product_name": "Linux"}, "event-2")
    _db.session.commit()
    worker = start_rq_worker(MAIL_URL=smtp_server.url)
    try:
        assert wait_for(lambda: smtp_server.to(user.email), timeout=30)
    finally:
        worker.stop()
    _db.session.expire_all()
    assert _db.session.get(MailMessage, message.id).state == "sent"
