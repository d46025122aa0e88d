"""Objects and events in the API version a caller asked for: the store reads behind
``versions`` (the facts an older version shows that today's objects no longer carry), and the
choice of version for responses, webhook deliveries and the Events API.

- A response is in the request's ``Stripe-Version``, else the account's default version
  (``Settings.api_version``).
- An event is made in the account's default version of the moment (its ``api_version``, what
  ``GET /v1/events`` shows) and delivered to each endpoint in the endpoint's ``api_version``
  (or that default). Its payload is a snapshot: the facts an older version needs are read when
  the event is made and kept with it, so a later change does not leak into an old event.

``expand[]`` applies to today's fields before rendering: a field only older versions have (an
invoice's ``charge``, a payment intent's ``charges``) comes back as an id or as rendered, and
cannot be expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stripe_sandbox import versions
from stripe_sandbox.store import Store

Obj = dict[str, Any]


def _list(url: str, rows: list[Obj]) -> Obj:
    return {"object": "list", "data": rows, "has_more": False, "total_count": len(rows), "url": url}


def _invoice_of_intent(store: Store, pi_id: Any) -> str | None:
    rec = store.get(pi_id, "payment_intent") if isinstance(pi_id, str) else None
    invoice = rec.meta.get("invoice") if rec is not None else None
    return invoice if isinstance(invoice, str) else None


def _intent_charges(store: Store, pi: Obj) -> Obj:
    rows = [r.data for r in store.find("charge", [("parent", pi["id"])], order="DESC")]
    return _list(f"/v1/charges?payment_intent={pi['id']}", rows)


def _latest_invoice_payment(store: Store, inv: Obj) -> Obj | None:
    rows = store.find("invoice_payment", [("parent", inv["id"])], order="DESC")
    return rows[0].data if rows else None


def _invoice_intent(store: Store, inv: Obj) -> str | None:
    payment = _latest_invoice_payment(store, inv)
    pi = ((payment or {}).get("payment") or {}).get("payment_intent")
    return pi if isinstance(pi, str) else None


def _invoice_charge(store: Store, inv: Obj) -> str | None:
    payment = _latest_invoice_payment(store, inv)
    details = (payment or {}).get("payment") or {}
    if isinstance(details.get("charge"), str):
        return str(details["charge"])
    pi_id = details.get("payment_intent")
    pi = store.get(pi_id, "payment_intent") if isinstance(pi_id, str) else None
    charge = pi.data.get("latest_charge") if pi is not None else None
    return charge if isinstance(charge, str) else None


def _customer_subscriptions(store: Store, cust: Obj) -> Obj:
    rows = [
        r.data
        for r in store.find("subscription", [("customer", cust["id"])], order="DESC")
        if r.data.get("status") not in ("canceled", "incomplete_expired")
    ]
    return _list(f"/v1/customers/{cust['id']}/subscriptions", rows)


def _price(store: Store, item: Obj) -> Obj | None:
    price_id = ((item.get("pricing") or {}).get("price_details") or {}).get("price")
    rec = store.get(price_id, "price") if isinstance(price_id, str) else None
    return rec.data if rec is not None else None


# (object type, fact name) -> how the fact is read
SOURCES: dict[tuple[str, str], Callable[[Store, Obj], Any]] = {
    ("charge", "invoice"): lambda store, ch: _invoice_of_intent(store, ch.get("payment_intent")),
    ("payment_intent", "invoice"): lambda store, pi: _invoice_of_intent(store, pi.get("id")),
    ("payment_intent", "charges"): _intent_charges,
    ("invoice", "payment_intent"): _invoice_intent,
    ("invoice", "charge"): _invoice_charge,
    ("customer", "subscriptions"): _customer_subscriptions,
    ("line_item", "price"): _price,
    ("invoiceitem", "price"): _price,
}


def gather(
    store: Store, node: Any, version: str, into: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """The facts rendering ``node`` (and every object inside it, and inside the facts read)
    in ``version`` needs, per object id."""
    facts: dict[str, dict[str, Any]] = {} if into is None else into

    def visit(item: Any, depth: int) -> None:
        if depth > 3:
            return
        if isinstance(item, list):
            for value in item:
                visit(value, depth)
            return
        if not isinstance(item, dict):
            return
        kind, oid = item.get("object"), item.get("id")
        if isinstance(kind, str) and isinstance(oid, str) and not item.get("deleted"):
            names = versions.facts_needed(kind, version)
            if names and oid not in facts:
                read = {name: SOURCES[(kind, name)](store, item) for name in sorted(names)}
                facts[oid] = read
                for value in read.values():
                    visit(value, depth + 1)
        for value in item.values():
            if isinstance(value, dict | list):
                visit(value, depth)

    visit(node, 0)
    return facts


def render(store: Store, obj: Any, version: str) -> Any:
    """A response body (an object, or a list of them) in ``version``."""
    if not versions.changes_for(version):
        return obj
    return versions.down_convert(obj, version, gather(store, obj, version))


def versions_in_use(default: str, endpoints: Iterable[Mapping[str, Any]]) -> list[str]:
    """The versions events may be rendered in: the account default, each endpoint's own."""
    found = {default}
    for endpoint in endpoints:
        if isinstance(endpoint.get("api_version"), str):
            found.add(str(endpoint["api_version"]))
    return sorted(found)


def event_facts(
    store: Store, obj: Obj, previous: Obj | None, in_use: list[str]
) -> dict[str, dict[str, Any]] | None:
    """The facts to keep with a new event (None when every version in use is today's): read
    for the oldest version in use, which needs the most."""
    version = versions.oldest(in_use)
    if not versions.changes_for(version):
        return None
    facts = gather(store, obj, version)
    if previous:
        # the object before the update: the same ids, so the same facts, plus any object that
        # was inside it only before (a replaced subscription item, say)
        gather(store, previous, version, facts)
    return facts


def render_event(store: Store, event: Obj, version: str) -> Obj:
    """A stored event as ``version`` shows it (the facts kept with it, read when it was made)."""
    if version == event.get("api_version") and not versions.changes_for(version):
        return event
    if not versions.changes_for(version):
        return versions.convert_event(event, version)
    facts = store.get_event_facts(str(event["id"])) or {}
    return versions.convert_event(event, version, facts)
