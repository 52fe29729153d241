"""RQ entry points of the session lifecycle; the logic lives in vpsshop.services."""

from __future__ import annotations

import uuid

from vpsshop.services import node_watch, provisioning
from vpsshop.services.session_jobs import session_run


def provision_session(session_id: str) -> None:
    with session_run(uuid.UUID(session_id)) as mine:
        if mine:
            provisioning.provision(uuid.UUID(session_id))


def watch_session(session_id: str) -> None:
    with session_run(uuid.UUID(session_id)) as mine:
        if mine:
            provisioning.watch(uuid.UUID(session_id))


def stop_session(session_id: str) -> None:
    with session_run(uuid.UUID(session_id), again="stop") as mine:
        if mine:
            provisioning.stop(uuid.UUID(session_id))


def expire_session(session_id: str) -> None:
    with session_run(uuid.UUID(session_id), again="expire") as mine:
        if mine:
            provisioning.expire(uuid.UUID(session_id))


def stop_orphan_vm(worker_id: str, route: str, attempt: int) -> None:
    provisioning.stop_orphan(uuid.UUID(worker_id), route, attempt)


def check_session(session_id: str) -> None:
    provisioning.check_ready(uuid.UUID(session_id))


def watch_node(worker_id: str) -> None:
    node_watch.watch_node(uuid.UUID(worker_id))
