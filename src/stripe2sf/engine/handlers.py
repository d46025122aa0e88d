"""Handlers registered per Stripe event type. The webhook endpoint asks `handles()` to decide
whether an event is queued or recorded as ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stripe2sf.store.inbox import StoredEvent

Handler = Callable[[StoredEvent], None]

# The event types stripe2sf syncs to Salesforce (the flows of DESIGN.md).
SYNCED_EVENT_TYPES = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "charge.dispute.created",
        "payment_intent.succeeded",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.payment_failed",
        "invoice.paid",
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.automatically_updated",
    }
)


class Registry:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type] = handler

    def register_many(self, event_types: Iterable[str], handler: Handler) -> None:
        for event_type in event_types:
            self.register(event_type, handler)

    def handles(self, event_type: str) -> bool:
        return event_type in self._handlers

    def get(self, event_type: str) -> Handler | None:
        return self._handlers.get(event_type)

    def types(self) -> frozenset[str]:
        return frozenset(self._handlers)


def _accept(_event: StoredEvent) -> None:
    """Placeholder until the Salesforce sync is wired: the event is accepted as applied."""


def default_registry() -> Registry:
    registry = Registry()
    registry.register_many(SYNCED_EVENT_TYPES, _accept)
    return registry
