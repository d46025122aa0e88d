"""One Account, several subscriptions: which one the Account shows.

Rule (configurable as `subscriptions.status_order`): the Account shows the first status in
the order past_due, unpaid, active, trialing, paused, incomplete, incomplete_expired,
canceled that any of the customer's subscriptions has - money at risk first, because that
is what someone must act on; then paying, then not yet or no longer paying. Plan, quantity,
period end and cancel-at-period-end come from that subscription (the newest one when
several share the status). MRR is the sum over all billing subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from stripe2sf.domain.stripe_views import SubscriptionView


@dataclass(frozen=True)
class SubscriptionSummary:
    primary: SubscriptionView
    status: str
    mrr: Decimal
    count: int


def status_rank(status: str, order: Sequence[str]) -> int:
    return order.index(status) if status in order else len(order)


def summarize(subs: Iterable[SubscriptionView], order: Sequence[str]) -> SubscriptionSummary | None:
    """The Account-level summary, or None when there is no subscription at all."""
    unique: dict[str, SubscriptionView] = {}
    for s in subs:
        unique.setdefault(s.id, s)
    if not unique:
        return None
    ranked = sorted(
        unique.values(),
        key=lambda s: (status_rank(s.status, order), -(s.created or 0), s.id),
    )
    primary = ranked[0]
    mrr = sum((s.mrr for s in unique.values()), Decimal(0))
    return SubscriptionSummary(primary=primary, status=primary.status, mrr=mrr, count=len(unique))
