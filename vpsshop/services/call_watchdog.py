"""One thread per process that runs each armed callback at its deadline (node calls' cut-off).

A ``threading.Timer`` per node call started a thread for every log read: under a busy
interpreter each start waited for the new thread to be scheduled (up to the GIL's switch
interval), a few milliseconds of a watch tick's time per read (bench: thousand VMs). Here
one daemon thread keeps the deadlines in a heap and sleeps until the earliest.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# [deadline (time.monotonic()), sequence, callback or None once disarmed or run]
Armed = list


class Watchdog:
    """Runs each armed callback once at its deadline unless it was disarmed first."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._heap: list[Armed] = []
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def arm(self, deadline: float, callback: Callable[[], None]) -> Armed:
        """Run ``callback`` in the watchdog's thread at ``deadline`` (``time.monotonic()``)."""
        entry: Armed = [deadline, next(self._sequence), callback]
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="node-call-watchdog", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # earlier than what the thread sleeps towards
                self._condition.notify()
        return entry

    def disarm(self, entry: Armed) -> None:
        """The callback will not run (unless it is running already)."""
        # Left in the heap: it is dropped without a wake-up once it reaches the top, so
        # the heap holds at most the calls of one budget's length.
        with self._condition:
            entry[2] = None

    def pending(self) -> int:
        """How many armed callbacks are still to run."""
        with self._condition:
            return sum(1 for entry in self._heap if entry[2] is not None)

    def close(self) -> None:
        """Stop the thread; callbacks still armed never run (for tests' own watchdogs)."""
        with self._condition:
            self._closed = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._condition:
            while not self._closed:
                heap = self._heap
                while heap and heap[0][2] is None:
                    heapq.heappop(heap)
                if not heap:
                    self._condition.wait()
                    continue
                wait = heap[0][0] - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                entry = heapq.heappop(heap)
                callback, entry[2] = entry[2], None
                self._condition.release()
                try:
                    callback()
                except Exception:  # one callback's bug must not stop the others' cut-off
                    log.exception("node call watchdog callback failed")
                finally:
                    self._condition.acquire()


_watchdog = Watchdog()


def watchdog() -> Watchdog:
    """This process's watchdog."""
    return _watchdog


def _reset_after_fork() -> None:
    # The thread and a lock it may have held stay behind in the parent.
    global _watchdog
    _watchdog = Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
