"""Stripe-shaped test events and signed deliveries."""

from __future__ import annotations

import json
import time
from typing import Any

from stripe import WebhookSignature


def event(
    event_id: str,
    *,
    type: str = "charge.succeeded",
    customer: str | None = "cus_test",
    created: int | None = None,
    obj: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data_object = obj or {"id": "ch_" + event_id.removeprefix("evt_"), "object": "charge"}
    if customer is not None:
        data_object.setdefault("customer", customer)
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created if created is not None else int(time.time()),
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def signed(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    header = WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def encode(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))
