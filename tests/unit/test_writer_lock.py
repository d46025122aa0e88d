"""The inbox's writer lock: the intake (urgent) goes before waiting worker threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from stripe2sf.store.inbox import WriterLock


def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_urgent_holder_goes_before_an_ordinary_one_that_waited_longer() -> None:
    lock = WriterLock()
    order: list[str] = []
    release_first = threading.Event()

    def hold(name: str, urgent: bool, until: threading.Event | None = None) -> None:
        with lock.hold(urgent):
            order.append(name)
            if until is not None:
                until.wait(5)

    first = threading.Thread(target=hold, args=("worker-1", False, release_first))
    first.start()
    _wait_until(lambda: order == ["worker-1"])
    ordinary = threading.Thread(target=hold, args=("worker-2", False))
    ordinary.start()
    urgent = threading.Thread(target=hold, args=("intake", True))
    urgent.start()
    _wait_until(lambda: lock._urgent == 1)
    release_first.set()
    for t in (first, ordinary, urgent):
        t.join(5)
    assert order == ["worker-1", "intake", "worker-2"]


def test_the_lock_is_reentrant_for_its_holder() -> None:
    lock = WriterLock()
    with lock.hold(), lock.hold(urgent=True):
        taken = threading.Event()

        def other() -> None:
            with lock.hold():
                taken.set()

        t = threading.Thread(target=other)
        t.start()
        assert not taken.wait(0.05)  # held twice by this thread: the other one waits
    t.join(5)
    assert taken.is_set()


def _hold_in_thread(lock: WriterLock, entered: threading.Event, leave: threading.Event) -> None:
    def run() -> None:
        with lock.hold():
            entered.set()
            leave.wait(5)

    threading.Thread(target=run, daemon=True).start()


def test_shared_mode_lets_ordinary_holders_run_together_but_not_beside_an_urgent_one() -> None:
    lock = WriterLock(exclusive=False)
    first, second, leave = threading.Event(), threading.Event(), threading.Event()
    _hold_in_thread(lock, first, leave)
    assert first.wait(5)
    _hold_in_thread(lock, second, leave)
    assert second.wait(5)  # a second worker transaction runs beside the first
    leave.set()

    waiting, leave_too = threading.Event(), threading.Event()
    with lock.hold(urgent=True):
        _hold_in_thread(lock, waiting, leave_too)
        assert not waiting.wait(0.1)  # the worker waits while the intake writes
    assert waiting.wait(5)  # and goes on once it is done
    leave_too.set()
