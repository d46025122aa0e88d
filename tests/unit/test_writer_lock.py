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


def test_shared_mode_lets_ordinary_holders_run_together_but_not_beside_an_urgent_one() -> None:
    lock = WriterLock(exclusive=False)
    with lock.hold(), lock.hold():
        pass  # two ordinary holders at once (here: nested in one thread) do not wait
    started = threading.Event()
    urgent_done = threading.Event()
    entered: list[str] = []

    def ordinary() -> None:
        started.set()
        with lock.hold():
            entered.append("worker")

    with lock.hold(urgent=True):
        t = threading.Thread(target=ordinary)
        t.start()
        assert started.wait(5)
        assert not urgent_done.wait(0.05)
        assert entered == []  # the worker waits while the intake writes
        urgent_done.set()
    t.join(5)
    assert entered == ["worker"]
