"""Time ranges, buckets and tick labels of the overview's charts (pure).

The latency chart spans the time its data covers: from the first event applied in the last
LATENCY_HOURS (at least MIN_SECONDS back) to now, in about BUCKETS buckets of a round length.
A service that started five minutes ago shows five minutes across the whole width, not three
hours with its dots at the right edge."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from stripe2sf.domain.figures import percentile

LATENCY_HOURS = 24
MIN_SECONDS = 10
BUCKETS = 30
TICKS = 5
# Bucket lengths in seconds, from 1 s to 1 h.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True)
class Window:
    start: datetime
    seconds: int
    step: int  # seconds a bucket

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    @property
    def step_text(self) -> str:
        return f"{self.step // 60}-min" if self.step >= 60 else f"{self.step}-s"


def latency_window(first: datetime | None, now: datetime) -> Window:
    """From `first` (the oldest sample; None: none) to `now`, bounded to
    MIN_SECONDS..LATENCY_HOURS, in buckets of a length from STEPS; it ends at the end of the
    bucket holding `now` and starts on a multiple of the step."""
    span = MIN_SECONDS if first is None else (now - first).total_seconds()
    span = min(max(span, MIN_SECONDS), LATENCY_HOURS * 3600)
    step = next((s for s in STEPS if span / s <= BUCKETS), STEPS[-1])
    end = now + timedelta(seconds=step - now.timestamp() % step)
    seconds = step * math.ceil((end - now).total_seconds() / step + span / step)
    return Window(end - timedelta(seconds=seconds), seconds, step)


def latency_buckets(
    samples: Iterable[tuple[datetime, float]], window: Window
) -> list[tuple[float | None, float | None]]:
    """(p50, p95) of the samples in each bucket of `window` (None, None: no sample)."""
    count = window.seconds // window.step
    groups: dict[int, list[float]] = defaultdict(list)
    for at, value in samples:
        index = int((at - window.start).total_seconds() // window.step)
        if 0 <= index < count:
            groups[index].append(value)
    return [
        (percentile(groups.get(i, []), 0.5), percentile(groups.get(i, []), 0.95))
        for i in range(count)
    ]


def time_ticks(start: datetime, end: datetime, count: int = TICKS) -> list[str]:
    """`count` labels evenly from `start` to `end` (HH:MM, with seconds for a short range and
    the day for a long one)."""
    spread = (end - start) / max(1, count - 1)
    length = end - start
    pattern = (
        "%m-%d %H:%M"
        if length > timedelta(hours=20)
        else "%H:%M:%S"
        if length < timedelta(minutes=10)
        else "%H:%M"
    )
    return [(start + spread * i).strftime(pattern) for i in range(count)]
