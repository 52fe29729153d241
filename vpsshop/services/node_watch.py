"""One watch job per node per tick: reads the logs of all its provisioning sessions.

A job per session per tick costs RQ's own bookkeeping for every read: one worker process
ran about 50 of them a second, short of a thousand sessions booting at once (bench:
thousand VMs). A node's tick reads its sessions' logs a batch of WATCH_NODE_CONCURRENCY
at a time, and each read runs under that session's lease and run lock as its own job
would (services/session_jobs.py): a session whose lease names another job is left to that
job, and a killed tick's sessions go back to the sweeper. A batch costs two round trips
to Redis (claim; join the next tick and release), and the tick keeps its locks alive with
one heartbeat thread (TickReads).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
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


def _read_batch(
    reads: TickReads,
    pool: ThreadPoolExecutor,
    read: Callable[[provisioning.WatchTarget], provisioning.Look | None],
    batch: list[provisioning.WatchTarget],
) -> list[NodeError | bool | None]:
    """Claim ``batch``'s sessions, read the claimed ones at once, then let go of them
    (joining the next tick where a read asks again); each read's node outcome. Redis away
    costs this batch its reads, never the tick."""
    try:
        claimed = set(reads.claim([target.session_id for target in batch]))
    except Exception:
        log.exception("watch claim failed worker_id=%s", reads.worker_id)
        return []
    mine = [target for target in batch if target.session_id in claimed]
    looks = list(pool.map(read, mine))
    try:
        reads.finish(
            [
                (target.session_id, look is not None and look.again)
                for target, look in zip(mine, looks, strict=True)
            ]
        )
    except Exception:
        log.exception("watch release failed worker_id=%s", reads.worker_id)
    return [look.node if look is not None else None for look in looks]


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

    def read(target: provisioning.WatchTarget) -> provisioning.Look | None:
        with app_context():
            # One session's failure must not cost the others their read; its lease then
            # runs out and the sweeper takes it over.
            try:
                return provisioning.look(target, note_health=False)
            except Exception:
                log.exception("watch failed session_id=%s", target.session_id)
                db.session.rollback()
                return None

    outcomes: list[NodeError | bool | None] = []
    with (
        TickReads(worker_id, job_id, tick_due_at(started)) as reads,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="watch") as pool,
    ):
        # A batch of reads at a time, each claimed and finished in one round trip: a
        # session's lock is held for its batch's node calls, each bounded by its deadline.
        for first in range(0, len(targets), concurrency):
            outcomes += _read_batch(reads, pool, read, targets[first : first + concurrency])
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
