"""Connection liveness: ping a pooled connection only after it sat idle for a while.

SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout, as much as the query
of a polled read. Like HikariCP's bypass window, a connection checked in less than
``DATABASE_PING_AFTER_IDLE_SECONDS`` ago is used as is: busy processes skip the ping, and a
connection that waited long enough for the server to restart or drop it is still tested
before a request sees it. A failed ping discards the connection and the pool opens a new
one (SQLAlchemy's documented ``DisconnectionError`` contract for checkout handlers).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

CHECKED_IN_AT = "vpsshop_checked_in_at"


def install_idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Ping connections idle for more than ``idle_seconds`` at checkout; idempotent."""
    if getattr(engine, "_vpsshop_idle_ping", False):
        return
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[CHECKED_IN_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get(CHECKED_IN_AT)
        if last_used is not None and time.monotonic() - last_used <= idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: this connection is not to be used
            raise exc.DisconnectionError(f"stale pooled connection: {error}") from error

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)
    engine._vpsshop_idle_ping = True  # type: ignore[attr-defined]
