"""Which lane an event belongs to.

Events of one Stripe customer share a lane so they are applied one at a time and in order;
events that carry no customer use their own object id as the lane.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def customer_id_of(obj: Mapping[str, Any]) -> str | None:
    """The Stripe customer id an object belongs to, if any (expanded or not)."""
    if obj.get("object") == "customer":
        value = obj.get("id")
        return value if isinstance(value, str) else None
    customer = obj.get("customer")
    if isinstance(customer, str) and customer:
        return customer
    if isinstance(customer, Mapping):
        cid = customer.get("id")
        return cid if isinstance(cid, str) else None
    return None


def lane_key(event: Mapping[str, Any]) -> str:
    """`cus_...` for customer-owned objects, else `obj:<object id>`, else `evt:<event id>`."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if isinstance(obj, Mapping):
        customer = customer_id_of(obj)
        if customer:
            return customer
        oid = obj.get("id")
        if isinstance(oid, str) and oid:
            return f"obj:{oid}"
    return f"evt:{event.get('id', '')}"
