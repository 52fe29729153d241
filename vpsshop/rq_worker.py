"""RQ worker classes that run every job inside the Flask app context, and their scheduler."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.worker import HerokuWorker

from vpsshop.extensions import db

log = logging.getLogger(__name__)

# A keeper tick wakes this long after its wall-clock multiple, so that int(time.time()),
# which RQ compares with a job's score, already names the new second.
ALIGN_SLACK_SECONDS = 0.005


class _AppContextMixin:
    flask_app: Flask | None = None

    def perform_job(self, job, queue, execution):  # noqa: D401 - RQ hook
        app = self.flask_app
        if app is None:  # a worker class loaded by `rq worker --worker-class`
            from vpsshop import create_app

            app = type(self).flask_app = create_app()
        with app.app_context():
            try:
                return super().perform_job(job, queue, execution)
            finally:
                db.session.remove()

    def main_work_horse(self, job, queue):
        # The forked horse must not reuse the parent's database sockets.
        if self.flask_app is not None:
            with self.flask_app.app_context():
                db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class AppWorker(_AppContextMixin, HerokuWorker):
    """Forking worker with Heroku-style SIGTERM handling (the Procfile's default)."""


class AppSimpleWorker(_AppContextMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no fork per job."""


WORKER_CLASSES = {"fork": AppWorker, "simple": AppSimpleWorker}


class ScheduleKeeper:
    """Moves due scheduled jobs into the queue every tick, from any worker that is alive.

    RQ's own scheduler runs only in the worker that holds its lock, and a SIGKILLed
    holder keeps that lock for a minute, with RQ trying again only at its 10-minute
    maintenance: every ``enqueue_in`` job (watches, stop retries, the sweep) stalled. Here
    every worker ticks, and a tick lock that lasts less than one tick picks which worker
    moves the jobs this time, so a dead worker delays nothing beyond its last tick. The
    move is RQ's public ``RQScheduler.enqueue_scheduled_jobs`` on every queue's registry.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.tick = float(app.config["SCHEDULER_TICK_SECONDS"])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick_once(self) -> bool:
        """One tick; True when this worker moved the due jobs."""
        from vpsshop import redis_keys
        from vpsshop.queue import get_redis, worker_queues
        from vpsshop.services.sweeper import ensure_sweep_scheduled

        with self.app.app_context():
            redis_conn = get_redis()
            ttl_ms = max(1, int(self.tick * 900))
            if not redis_conn.set(redis_keys.key("scheduler-tick"), "1", nx=True, px=ttl_ms):
                return False
            queues = worker_queues()
            scheduler = RQScheduler(queues, connection=redis_conn)
            scheduler.prepare_registries([queue.name for queue in queues])
            scheduler.enqueue_scheduled_jobs()
            # A sweep chain lost with a killed worker is started again here (SET NX).
            ensure_sweep_scheduled(delay=1.0)
            return True

    def seconds_to_next_tick(self, now: float | None = None) -> float:
        """Seconds until just past the next multiple of the tick on the wall clock.

        RQ scores a scheduled job by its whole second and moves it once that second has
        begun: ticks on the whole seconds (and their fractions) move each job at the start
        of its second, within one second before its due time, never after it. An
        unaligned tick moved it anywhere from one second early to one tick late."""
        now = time.time() if now is None else now
        return self.tick - (now % self.tick) + ALIGN_SLACK_SECONDS

    def _run(self) -> None:
        while not self._stop.wait(self.seconds_to_next_tick()):
            try:
                self.tick_once()
            except Exception:  # Redis away: the next tick tries again
                log.warning("scheduler tick failed", exc_info=True)

    def start(self) -> ScheduleKeeper:
        self._thread = threading.Thread(target=self._run, name="schedule-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
