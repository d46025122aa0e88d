"""How a claimed batch is ordered (pure): which events of a lane are ready, and the waves.

A lane holds one Stripe customer's events, applied in order. A batch takes many lanes at
once; the k-th ready event of every lane goes in the k-th *wave*, and a wave is hydrated,
planned, sent and recorded only after the previous one is recorded, so each event is planned
against what the events before it in its lane wrote (links, ledger, email claims), exactly as
if they had been applied one at a time, while events of different lanes share every read and
every write call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


def ready_prefix(
    events: Sequence[T], now: datetime, due: Callable[[T], datetime | None]
) -> list[T]:
    """A lane's events from its head while each is due: the first one waiting (a retry at a
    later time) stops the lane, so no later event of that customer overtakes it."""
    out: list[T] = []
    for event in events:
        when = due(event)
        if when is not None and when > now:
            break
        out.append(event)
    return out


def waves(lanes: Sequence[Sequence[T]]) -> list[list[T]]:
    """The k-th wave holds the k-th event of every lane that has one, lanes in claim order."""
    depth = max((len(events) for events in lanes), default=0)
    return [[events[k] for events in lanes if len(events) > k] for k in range(depth)]
