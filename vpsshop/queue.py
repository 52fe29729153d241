"""Redis connection and the RQ queues, shared by the web and worker processes."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue

# Explicit for every enqueue (STYLE.md): job state lives in the database, RQ is a helper.
DEFAULT_JOB_OPTIONS: dict[str, Any] = {"job_timeout": 120, "result_ttl": 600, "failure_ttl": 86400}
MAIL_QUEUE_SUFFIX = "-mail"
WATCH_QUEUE_SUFFIX = "-watch"


def redis_options(app: Flask) -> dict[str, Any]:
    """Connection options shared by every Redis client of the app (RQ, cache, limits)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "health_check_interval": 30,
    }
    if app.config["REDIS_URL"].startswith("rediss://"):
        options["ssl_cert_reqs"] = app.config["REDIS_SSL_CERT_REQS"]
    return options


def init_redis(app: Flask) -> None:
    app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"], **redis_options(app))


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def get_queue() -> Queue:
    """The lifecycle queue: provisions, stops, expiries, the sweep."""
    return Queue(current_app.config["RQ_QUEUE_NAME"], connection=get_redis())


def get_watch_queue() -> Queue:
    """The node watch ticks' queue, which workers take before the lifecycle queue: a burst
    of purchases' creates never holds back the reads of the servers already booting.

    First in, first out: RQ's ``at_front`` pushes onto the head of a queue, which under a
    steady stream of ticks made the newest run first and left an older tick (and every
    create behind them) waiting many intervals.
    """
    return Queue(current_app.config["RQ_QUEUE_NAME"] + WATCH_QUEUE_SUFFIX, connection=get_redis())


def get_mail_queue() -> Queue:
    """The mail queue. Workers take it only when the watch and lifecycle queues are empty,
    so a burst of notices or a slow SMTP server never waits ahead of a provision, a tick or
    a stop."""
    return Queue(current_app.config["RQ_QUEUE_NAME"] + MAIL_QUEUE_SUFFIX, connection=get_redis())


def worker_queues() -> list[Queue]:
    """Every queue a worker serves, in the order it takes jobs (RQ dequeues the first
    non-empty one)."""
    return [get_watch_queue(), get_queue(), get_mail_queue()]
