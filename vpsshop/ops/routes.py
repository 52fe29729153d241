"""Routes of the operational endpoints: ``GET /healthz`` for platform health checks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic

from flask import current_app, jsonify
from sqlalchemy import text

from vpsshop.extensions import db
from vpsshop.ops import bp
from vpsshop.queue import get_redis

# A platform probes often and gives up after a few seconds: answer within this budget
# whatever the dependencies do (a black-holed host would otherwise block for minutes).
HEALTH_TIMEOUT_SECONDS = 2.0

# Each check runs in a daemon thread: one that hangs can neither delay the answer nor
# block the process's exit. At most this many may hang per check; past that the check
# answers "unavailable" at once instead of piling up threads.
_MAX_IN_FLIGHT = 2
_in_flight: dict[str, threading.BoundedSemaphore] = {}
_in_flight_lock = threading.Lock()


def _slots(name: str) -> threading.BoundedSemaphore:
    with _in_flight_lock:
        return _in_flight.setdefault(name, threading.BoundedSemaphore(_MAX_IN_FLIGHT))


def _check_database(engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_redis(client) -> None:
    if not client.ping():
        raise RuntimeError("PING did not answer PONG")


class _Check(threading.Thread):
    def __init__(self, name: str, check: Callable[[], None], slots: threading.BoundedSemaphore):
        super().__init__(name=f"healthz-{name}", daemon=True)
        self.check = check
        self.slots = slots
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.check()
        except BaseException as exc:  # reported by the request thread
            self.error = exc
        finally:
            self.slots.release()


def run_checks(checks: dict[str, Callable[[], None]], timeout: float) -> dict[str, str]:
    """Run ``checks`` concurrently; each is "ok" or "unavailable" within ``timeout`` seconds."""
    threads: dict[str, _Check | None] = {}
    for name, check in checks.items():
        slots = _slots(name)
        if slots.acquire(blocking=False):
            threads[name] = _Check(name, check, slots)
            threads[name].start()
        else:
            threads[name] = None  # earlier checks of it still hang
    deadline = monotonic() + timeout
    results: dict[str, str] = {}
    for name, thread in threads.items():
        if thread is not None:
            thread.join(max(0.0, deadline - monotonic()))
        if thread is None or thread.is_alive():
            current_app.logger.warning("healthz check=%s failed error=timeout", name)
            results[name] = "unavailable"
        elif thread.error is not None:
            # The class name only: messages may carry hosts or user names of the URL.
            current_app.logger.warning(
                "healthz check=%s failed error=%s", name, type(thread.error).__name__
            )
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    return results


@bp.get("/healthz")
def healthz():
    """200 when the database and Redis answer, else 503 naming the one(s) that do not."""
    engine = db.engine
    redis_client = get_redis()
    results = run_checks(
        {
            "database": lambda: _check_database(engine),
            "redis": lambda: _check_redis(redis_client),
        },
        timeout=current_app.config.get("HEALTHZ_TIMEOUT_SECONDS", HEALTH_TIMEOUT_SECONDS),
    )
    failing = [name for name, state in results.items() if state != "ok"]
    if failing:
        body = {
            "status": "unavailable",
            **results,
            "message": f"Not answering: {', '.join(failing)}.",
        }
        status = 503
    else:
        body = {"status": "ok", **results}
        status = 200
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
