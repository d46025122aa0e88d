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


def settled_lane(current: str, customer_id: str | None, charge_id: str | None) -> str | None:
    """Where an event belongs once its customer is known, when that is not where it is; else
    None. A dispute's payload names only its charge, so it is first queued in a lane of its own
    (`obj:dp_...`) although it writes the same payment record as the charge's events: applied
    there it could race a refund of that charge in the customer's lane, and the older read
    could land last. Moved into the charge's lane (its customer, or `obj:<charge>` for a
    charge without one), it takes its turn behind them."""
    if not current.startswith(("obj:", "evt:")):
        return None
    target = customer_id or (f"obj:{charge_id}" if charge_id else None)
    return target if target and target != current else None
