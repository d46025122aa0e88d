"""Long jobs (Bulk API 2.0 and 1.0) processed a chunk at a time: the first chunk at once, the
rest on the server's event loop, so a big job does not hold up other requests; outside an
event loop (direct model use in tests) everything at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

log = logging.getLogger("salesforce_sandbox")
_DONE = object()


class Stepper:
    """Keeps the background tasks alive until they finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, steps: Iterator[None], what: str) -> None:
        """The first step now; the rest on the event loop (or now, outside one)."""
        if next(steps, _DONE) is _DONE:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            for _ in steps:
                pass
            return
        task = loop.create_task(_drive(steps, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _drive(steps: Iterator[None], what: str) -> None:
    try:
        for _ in steps:
            await asyncio.sleep(0)
    except Exception:  # keep the server alive; the job stays InProgress
        log.exception("%s processing failed", what)
