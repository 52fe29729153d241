"""The schedule keeper: ticks on the wall clock's whole seconds, so a scheduled job is
moved into its queue at the start of its second, never after its due time; and a node's
next watch tick, aimed from when the running one became due."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime

import pytest

from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue, get_redis, get_watch_queue
from vpsshop.rq_worker import ALIGN_SLACK_SECONDS, ScheduleKeeper
from vpsshop.services import session_jobs

# How late a move may still be on a loaded machine; an unaligned keeper is up to 1 s late.
SLACK = 0.35


@pytest.fixture
def app_config() -> dict:
    return {"SCHEDULER_TICK_SECONDS": 1.0, "WATCH_INTERVAL_SECONDS": 3.0}


@pytest.mark.parametrize(
    ("tick", "now", "expected"),
    [
        (1.0, 100.3, 0.7),
        (1.0, 100.999, 0.001),
        (1.0, 100.0, 1.0),
        (0.2, 100.05, 0.15),
        (2.0, 101.5, 0.5),
    ],
)
def test_the_next_tick_is_just_past_the_next_multiple_of_the_tick(app, tick, now, expected):
    app.config["SCHEDULER_TICK_SECONDS"] = tick
    keeper = ScheduleKeeper(app)
    wait = keeper.seconds_to_next_tick(now)
    assert wait == pytest.approx(expected + ALIGN_SLACK_SECONDS, abs=1e-6)


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def test_a_scheduled_job_is_moved_by_its_due_time_whatever_the_keepers_start(app):
    """Started at .9 of a second, an unaligned keeper would move a job due at .2 of a
    later second 0.7 s after its due time; this one moves it at that second's start."""
    queue = get_queue()
    second = math.floor(time.time()) + 1
    _sleep_until(second + 0.9)
    keeper = ScheduleKeeper(app).start()
    try:
        due = second + 2.2
        job = queue.enqueue_at(
            datetime.fromtimestamp(due, UTC), "tests.test_queue.note", "x", **DEFAULT_JOB_OPTIONS
        )
        moved = None
        while time.time() < due + 2:
            if job.id in queue.job_ids:
                moved = time.time()
                break
            time.sleep(0.01)
    finally:
        keeper.stop()
    assert moved is not None, "the keeper never moved the job"
    assert math.floor(due) <= moved <= due + SLACK


def test_the_next_watch_tick_is_aimed_half_a_second_inside_the_interval(app):
    started = time.monotonic()
    delay = session_jobs._next_tick_delay(started, at_once=False)
    # 3 s interval, RQ's whole-second window of 1 s: aimed at 2.5 s after the read began,
    # so moved between 1.5 and 2.5 s after it.
    assert delay == pytest.approx(2.5, abs=0.05)
    assert session_jobs._next_tick_delay(started - 10, at_once=False) == 0.0
    assert session_jobs._next_tick_delay(started, at_once=True) == 0.0
    # A keeper ticking every 2 s moves a job up to 2 s after its second: aimed 1 s inside.
    app.config["SCHEDULER_TICK_SECONDS"] = 2.0
    assert session_jobs._next_tick_delay(time.monotonic(), at_once=False) == pytest.approx(
        2.0, abs=0.05
    )


def test_a_watch_tick_scheduled_now_is_due_within_the_interval(app):
    before = time.time()
    tick = session_jobs.join_node_watch(uuid.uuid4(), uuid.uuid4(), time.monotonic(), None)
    scheduled = get_watch_queue().scheduled_job_registry.get_scheduled_time(tick)
    # Moved at the start of its whole second: no later than 2.5 s after the read began.
    assert before + 1.4 <= scheduled.timestamp() <= before + 2.5 + 0.1


WAITED_KEY = "test-tick-waited"


def record_tick_wait() -> None:
    """A job that records how long before its start tick_due_at says it became due."""
    started = time.monotonic()
    get_redis().rpush(WAITED_KEY, started - session_jobs.tick_due_at(started))


def _waited_in_queue(run_jobs, seconds: float) -> float:
    get_watch_queue().enqueue(f"{__name__}.record_tick_wait", **DEFAULT_JOB_OPTIONS)
    time.sleep(seconds)
    assert run_jobs()
    return float(get_redis().lpop(WAITED_KEY))


def test_a_tick_is_due_from_when_it_entered_its_queue(app, run_jobs):
    # The next tick is aimed from here: a wait behind other nodes' ticks is not added.
    assert 0.4 <= _waited_in_queue(run_jobs, 0.4) < 0.4 + SLACK


def test_a_backlog_counts_only_up_to_one_schedule_window(app, run_jobs):
    assert _waited_in_queue(run_jobs, 1.6) == pytest.approx(1.0)


def test_outside_a_job_a_tick_is_due_when_it_starts(app):
    started = time.monotonic()
    assert session_jobs.tick_due_at(started) == started
