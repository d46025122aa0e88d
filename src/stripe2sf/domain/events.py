"""A typed, version-independent view of a Stripe event envelope.

Stripe sends the object in the shape of the endpoint's API version (anything from 2016 to
today). `parse_event` only reads the envelope fields that have been stable since 2016; the
object itself is normalised lazily by `stripe_views` so that a field that moved between
versions is looked up in every place it has lived.

Besides full envelopes it accepts the `{"object": ..., "previous_attributes": ...}` data
part alone (some fixtures and the Events API `data` field) when the caller says which type
the event is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stripe2sf.domain.batch.lanes import customer_id_of
from stripe2sf.domain.paths import as_int, as_str, id_of


class EventParseError(ValueError):
    """The payload is not a Stripe event we can read; the message says what is missing."""


@dataclass(frozen=True)
class EventView:
    """What the planner needs from an event, whatever its API version."""

    id: str
    type: str
    created: int
    livemode: bool
    api_version: str | None
    object_type: str
    object_id: str | None
    customer_id: str | None
    object: Mapping[str, Any]
    previous_attributes: Mapping[str, Any] | None = None
    # the idempotency key of the API request that caused the event (`request.idempotency_key`;
    # stripe2sf's own requests' keys start with ``stripe2sf-``: `domain.reverse.echo`)
    request_key: str | None = None

    @property
    def ledger_key(self) -> str | None:
        """Key under which the sync ledger remembers the last Stripe timestamp applied."""
        return self.object_id


def _customer_of(obj: Mapping[str, Any], object_type: str) -> str | None:
    """Customer id, also for objects that only reach the customer through their charge."""
    if object_type == "customer":
        return id_of(obj.get("id"))
    found = customer_id_of(obj)
    if found:
        return found
    charge = obj.get("charge")
    if isinstance(charge, Mapping):
        return customer_id_of(charge)
    return None


_TYPE_PREFIXES = (
    ("charge.dispute.", "dispute"),
    ("charge.refund.", "refund"),
    ("customer.subscription.", "subscription"),
    ("customer.source.", "card"),
    ("customer.discount.", "discount"),
    ("charge.", "charge"),
    ("customer.", "customer"),
    ("invoice.", "invoice"),
    ("payment_intent.", "payment_intent"),
    ("payment_method.", "payment_method"),
)


def _infer_object_type(event_type: str) -> str | None:
    """Some hand-written payloads omit `object`; the event type names it."""
    for prefix, object_type in _TYPE_PREFIXES:
        if event_type.startswith(prefix):
            return object_type
    return None


def parse_event(raw: Mapping[str, Any], *, event_type: str | None = None) -> EventView:
    """Read an event envelope (or a bare `data` part when `event_type` is given)."""
    if not isinstance(raw, Mapping):
        raise EventParseError(f"expected a JSON object, got {type(raw).__name__}")
    data = raw.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("object"), Mapping):
        obj: Mapping[str, Any] = data["object"]
        previous = data.get("previous_attributes")
        envelope = raw
    elif isinstance(raw.get("object"), Mapping):
        obj = raw["object"]
        previous = raw.get("previous_attributes")
        envelope = {}
    else:
        raise EventParseError("event has no data.object")
    etype = as_str(envelope.get("type")) or event_type
    if not etype:
        raise EventParseError("event has no type (pass event_type for a bare data part)")
    object_type = as_str(obj.get("object")) or _infer_object_type(etype)
    if object_type is None:
        raise EventParseError(f"{etype}: data.object has no 'object' type")
    created = as_int(envelope.get("created"))
    if created is None:
        created = as_int(obj.get("created")) or 0
    object_id = id_of(obj.get("id"))
    event_id = as_str(envelope.get("id")) or f"evt_local_{etype}_{object_id or 'unknown'}"
    return EventView(
        id=event_id,
        type=etype,
        created=created,
        livemode=bool(envelope.get("livemode", obj.get("livemode", False))),
        api_version=as_str(envelope.get("api_version")),
        object_type=object_type,
        object_id=object_id,
        customer_id=_customer_of(obj, object_type),
        object=obj,
        previous_attributes=previous if isinstance(previous, Mapping) else None,
        request_key=_request_key(envelope.get("request")),
    )


def _request_key(request: Any) -> str | None:
    """`request.idempotency_key` (versions before 2017-05-25 give the request id alone)."""
    key = request.get("idempotency_key") if isinstance(request, Mapping) else None
    return key if isinstance(key, str) and key else None
