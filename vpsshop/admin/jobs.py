"""Jobs: the RQ queues, their scheduled, started and failed jobs; requeue or delete failures."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, request
from flask_admin import expose
from flask_login import current_user
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from vpsshop.admin.access import AdminBaseView
from vpsshop.extensions import db
from vpsshop.queue import worker_queues
from vpsshop.services import audit

# Registries can grow large; the page shows the newest ones only.
LIST_LIMIT = 50
MAX_ERROR_CHARS = 4000


def _describe(job: Job, *, with_error: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": job.id,
        "func": job.func_name,
        "args": ", ".join(str(arg) for arg in job.args or ()),
        "enqueued_at": job.enqueued_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
    }
    if with_error:
        result = job.latest_result()
        error = (result.exc_string if result is not None else None) or ""
        # The last lines of a traceback say what went wrong; keep the tail.
        row["error"] = error[-MAX_ERROR_CHARS:]
    return row


def _jobs(registry: Any, *, with_error: bool = False) -> list[dict[str, Any]]:
    ids = registry.get_job_ids(0, LIST_LIMIT - 1, desc=True)
    jobs = Job.fetch_many(ids, connection=registry.connection)
    # A job whose hash expired is still listed by id (RQ is a helper, the DB is the truth).
    return [
        _describe(job, with_error=with_error) if job is not None else {"id": job_id, "gone": True}
        for job_id, job in zip(ids, jobs, strict=True)
    ]


def _queue_state(queue: Queue) -> dict[str, Any]:
    failed = FailedJobRegistry(queue=queue)
    scheduled = ScheduledJobRegistry(queue=queue)
    started = StartedJobRegistry(queue=queue)
    return {
        "name": queue.name,
        "queued": queue.count,
        "scheduled_count": scheduled.count,
        "started_count": started.count,
        "failed_count": failed.count,
        "scheduled": _jobs(scheduled),
        "started": _jobs(started),
        "failed": _jobs(failed, with_error=True),
    }


class JobsView(AdminBaseView):
    """The state of the background queues: watch ticks first, then lifecycle, then mail."""

    @expose("/")
    def index(self) -> Any:
        queues = worker_queues()
        try:
            context = {"queues": [_queue_state(queue) for queue in queues], "redis_error": None}
        except RedisError as error:
            context = {"queues": [], "redis_error": str(error)}
            return self.render("admin/jobs.html", **context), 503
        return self.render("admin/jobs.html", **context)

    def _failed_job(self) -> tuple[FailedJobRegistry, str]:
        """The failed registry holding the posted job id, of whichever queue; 404 if none."""
        job_id = request.form.get("job_id", "")
        if job_id:
            for queue in worker_queues():
                registry = FailedJobRegistry(queue=queue)
                if job_id in registry:
                    return registry, job_id
        abort(404)

    @expose("/requeue/", methods=["POST"])
    def requeue(self) -> Any:
        registry, job_id = self._failed_job()
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation) as error:
            flash(f"Job {job_id} could not be requeued: {error}", "error")
        else:
            audit.record(current_user.id, "job.requeue", "job", job_id)
            db.session.commit()
            flash(f"Job {job_id} requeued.", "success")
        return self._back()

    @expose("/delete/", methods=["POST"])
    def delete(self) -> Any:
        registry, job_id = self._failed_job()
        try:
            Job.fetch(job_id, connection=registry.connection).delete()
        except NoSuchJobError:
            # The hash expired already; drop the dangling id from the registry.
            registry.remove(job_id)
        audit.record(current_user.id, "job.delete", "job", job_id)
        db.session.commit()
        flash(f"Job {job_id} deleted.", "success")
        return self._back()

    def _back(self) -> Any:
        from flask import redirect

        return redirect(self.get_url(".index"))
