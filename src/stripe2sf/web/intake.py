"""From a verified webhook body to an inbox row: what counts as a Stripe event."""

from __future__ import annotations

import json
from typing import Any

from stripe2sf.domain.batch.lanes import lane_key
from stripe2sf.store.inbox import NewEvent


class NotAnEvent(ValueError):
    """The body is not a Stripe event; the message says what is wrong."""


def parse_event(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAnEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise NotAnEvent("body is not a JSON object")
    if doc.get("object") != "event":
        raise NotAnEvent('"object" must be "event"')
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise NotAnEvent('"id" must be an event id such as evt_123')
    if not isinstance(doc.get("type"), str) or not doc["type"]:
        raise NotAnEvent('"type" must be an event type such as charge.succeeded')
    if not isinstance(doc.get("created"), int) or isinstance(doc.get("created"), bool):
        raise NotAnEvent('"created" must be a Unix timestamp')
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise NotAnEvent('"data.object" must be an object')
    return doc


def to_new_event(
    doc: dict[str, Any],
    body: str,
    handled: bool,
    source: str,
    refused: str | None = None,
    *,
    refused_kind: str = "refused",
) -> NewEvent:
    """The inbox row for a parsed event; `refused` (see `domain.flows.integrity`) stores it as
    refused, with that reason and `refused_kind` as its error kind, instead of pending."""
    return NewEvent(
        event_id=doc["id"],
        type=doc["type"],
        lane=lane_key(doc),
        created=doc["created"],
        livemode=bool(doc.get("livemode", False)),
        api_version=doc.get("api_version") if isinstance(doc.get("api_version"), str) else None,
        payload_text=body,
        handled=handled,
        source=source,
        refused=refused,
        refused_kind=refused_kind,
    )
