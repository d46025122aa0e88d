"""Group commit for webhook intake: requests wait while one thread writes them in batches.

Each commit costs an fsync; writing every event that arrived during the previous commit in the
next one keeps acknowledgement latency flat as the request rate grows, and an event is still
acknowledged only once it is on disk.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from datetime import UTC, datetime

from stripe2sf.store.inbox import Inbox, NewEvent

_Item = tuple[NewEvent, "asyncio.Future[bool]", asyncio.AbstractEventLoop]


def _resolve(future: asyncio.Future[bool], value: bool | BaseException) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


class GroupCommitter:
    def __init__(self, inbox: Inbox, max_batch: int = 256) -> None:
        self.inbox = inbox
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    async def add(self, event: NewEvent) -> bool:
        """Store the event (durably); True when it was new."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put((event, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[_Item]) -> None:
        outcomes: list[bool | BaseException]
        try:
            outcomes = list(self.inbox.add_many([e for e, _, _ in batch], datetime.now(UTC)))
        except Exception as exc:  # the database is down: every waiting request answers 503
            outcomes = [exc] * len(batch)
        for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_resolve, future, outcome)
