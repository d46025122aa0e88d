"""How a claimed batch is ordered (pure): which events of a lane are ready, and the waves.

A lane holds one Stripe customer's events, applied in order. A batch takes many lanes at
once; the k-th ready event of every lane goes in the k-th *wave*, and a wave is hydrated,
planned, sent and recorded only after the previous one is recorded, so each event is planned
against what the events before it in its lane wrote (links, ledger, email claims), exactly as
if they had been applied one at a time, while events of different lanes share every read and
every write call. Events whose plan cannot depend on what the events before them write
(`JOINS_WAVE`) go in the same wave as those: a new customer's `customer.created`,
`charge.succeeded` and `payment_intent.succeeded` cost one read and one write call.
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


# Event types whose plan reads nothing that the events before them in their lane write,
# except the customer's link, which every plan of one wave resolves alike (the same upserts
# by the customer id, merged into one write): applied in the same wave as those events, the
# result is what applying them one after the other gives, one round trip sooner. Not here:
# what reads records an earlier event may create (invoice.paid closes the dunning Task
# invoice.payment_failed opens, a dispute checks its payment is synced), or needs an Account
# to be linked already (customer.deleted marks one, never creates it).
JOINS_WAVE = frozenset(
    {
        "charge.succeeded",
        "charge.captured",
        "charge.updated",
        "payment_intent.succeeded",
        "payment_method.attached",
        "customer.created",  # delivered after the charge of the same second, it still joins
        "customer.updated",
        "customer.subscription.created",
        "customer.subscription.updated",
    }
)


def joins_wave(event_type: str) -> bool:
    return event_type in JOINS_WAVE


def steps(events: Sequence[T], joins: Callable[[T], bool]) -> list[list[T]]:
    """A lane's events cut into steps: an event that `joins` goes with the one before it."""
    out: list[list[T]] = []
    for event in events:
        if out and joins(event):
            out[-1].append(event)
        else:
            out.append([event])
    return out


def waves(
    lanes: Sequence[Sequence[T]], joins: Callable[[T], bool] = lambda _: False
) -> list[list[T]]:
    """The k-th wave holds the k-th step of every lane that has one (a step: an event and
    the events after it that join it), lanes in claim order, each lane's events in order."""
    cut = [steps(events, joins) for events in lanes]
    depth = max((len(s) for s in cut), default=0)
    return [[e for s in cut if len(s) > k for e in s[k]] for k in range(depth)]
