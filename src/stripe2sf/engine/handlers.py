"""Handlers registered per Stripe event type. The webhook endpoint asks `handles()` to decide
whether an event is queued or recorded as ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.store.inbox import Applied, Moved, StoredEvent

# A handler applies one event and says what it applied (recorded with the event's completion),
# or that the event belongs in another lane.
Handler = Callable[[StoredEvent], Applied | Moved | None]


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
    """Without Salesforce settings the events are accepted and kept, not synced."""


def default_registry() -> Registry:
    registry = Registry()
    registry.register_many(HANDLED_TYPES, _accept)
    return registry
