"""RQ worker classes that run every job inside the Flask app context."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker
from rq.worker import HerokuWorker

from vpsshop.extensions import db


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
