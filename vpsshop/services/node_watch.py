"""One watch job per node per tick: reads the logs of all its provisioning sessions.

A job per session per tick costs RQ's own bookkeeping for every read: one worker process
ran about 50 of them a second, short of a thousand sessions booting at once (bench:
thousand VMs). A node's tick reads its sessions' logs at once, at most
WATCH_NODE_CONCURRENCY at a time, and each read runs under that session's lease and run
lock as its own job would (services/session_jobs.py): a session whose lease names another
job is left to that job, and a killed tick's sessions go back to the sweeper. A read costs
two round trips to Redis (claim; join the next tick and release) and the tick keeps its
locks alive with one heartbeat thread (TickReads).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from sqlalchemy import select

from vpsshop.extensions import db
from vpsshop.models import SessionStatus, VpsProduct, VpsSession, Worker
from vpsshop.services import provisioning, workers
from vpsshop.services.node_client import NodeError
from vpsshop.services.session_jobs import (
    TickReads,
    current_job_id,
    start_node_tick,
    tick_due_at,
)

log = logging.getLogger(__name__)


def _targets(worker_id: uuid.UUID) -> tuple[list[provisioning.WatchTarget], bool]:
    """The node's provisioning sessions to read, and whether its row showed it seen
    recently and healthy (a success of this tick would then change nothing).

    Columns, not ORM objects: a tick runs every interval for every node, and loading each
    session and its product as entities was a tenth of a busy worker's time (bench:
    thousand VMs)."""
    rows = db.session.execute(
        select(VpsSession.id, VpsSession.worker_route, VpsSession.created_at)
        .add_columns(VpsProduct.provision_action)
        .join(VpsProduct, VpsProduct.id == VpsSession.product_id)
        .where(
            VpsSession.worker_id == worker_id,
            VpsSession.status == SessionStatus.PROVISIONING,
        )
        .order_by(VpsSession.created_at)
    ).all()
    worker = db.session.get(Worker, worker_id)
    targets = [
        provisioning.WatchTarget(
            session_id, route, action, provisioning.deadline_after(created_at), worker
        )
        for session_id, route, created_at, action in rows
    ]
    fresh = worker is not None and workers.seen_recently(
        worker.consecutive_failures, worker.last_seen_at
    )
    if worker is not None:
        db.session.expunge(worker)  # read by every target's node call, after the rollback
    db.session.rollback()
    return targets, fresh


def watch_node(worker_id: uuid.UUID) -> int:
    """Read the log of each of the node's provisioning sessions whose lease is this tick's;
    returns how many were read. The node's health is recorded once for the tick."""
    started = time.monotonic()
    job_id = current_job_id()
    if job_id is not None:
        start_node_tick(worker_id, job_id)
    targets, seen_recently = _targets(worker_id)
    if not targets:
        return 0
    # Each read runs in its own thread and app context (its own database session); the
    # bound method keeps the real app, not the context-local proxy.
    app_context = current_app.app_context
    concurrency = max(1, int(current_app.config["WATCH_NODE_CONCURRENCY"]))

    def read(target: provisioning.WatchTarget) -> NodeError | bool | None:
        with app_context():
            # One session's failure (Redis away included) must not cost the others their
            # read; its lease then runs out and the sweeper takes it over.
            try:
                if not reads.claim(target.session_id):
                    return None
            except Exception:
                log.exception("watch claim failed session_id=%s", target.session_id)
                return None
            again, outcome = False, None
            try:
                look = provisioning.look(target, note_health=False)
                again, outcome = look.again, look.node
            except Exception:
                log.exception("watch failed session_id=%s", target.session_id)
                db.session.rollback()
            try:
                reads.finish(target.session_id, again=again)
            except Exception:
                log.exception("watch release failed session_id=%s", target.session_id)
            return outcome

    with (
        TickReads(worker_id, job_id, tick_due_at(started)) as reads,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="watch") as pool,
    ):
        outcomes = list(pool.map(read, targets))
    errors = [o for o in outcomes if isinstance(o, NodeError)]
    answered = sum(1 for o in outcomes if o is True)
    # A success on a node seen moments ago would write nothing: skip its round trips. A
    # failure counted by another job since the targets were read then stays until the
    # next tick's success.
    if (answered and not seen_recently) or (errors and not answered):
        provisioning.note_node_outcome(worker_id, None if answered else errors[-1])
    log.info(
        "node watch worker_id=%s sessions=%d answered=%d failed=%d seconds=%.2f",
        worker_id,
        len(targets),
        answered,
        len(errors),
        time.monotonic() - started,
    )
    return answered + len(errors)
