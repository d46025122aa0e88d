"""Conflicts: a Stripe edit of a field Salesforce owns (pure).

When someone changes, in Stripe, a customer field that an active mapping fills from a
Salesforce-owned field (a rep edits Contact.Email in Salesforce while a colleague edits the
customer's email in Stripe), ownership decides: the Stripe -> Salesforce flow never writes that
field, and stripe2sf puts Salesforce's value back in Stripe, so both systems hold the owner's
value. Each such field is recorded: "conflict: ... kept Salesforce's value".

stripe2sf's own Stripe requests are not conflicts (their events are echoes, `reverse.echo`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.reverse.echo import caused_by_stripe2sf
from stripe2sf.domain.reverse.mapping import ReverseMapping, active_mappings
from stripe2sf.domain.reverse.plan import (
    ADDRESS,
    ADDRESS_PARTS,
    StripeUpdate,
    differing_params,
    idempotency_key,
    same_value,
    wanted_values,
)

CONFLICT_TYPES = frozenset({"customer.updated"})


def stripe_edits(raw_event: Mapping[str, Any]) -> tuple[str, ...]:
    """The customer fields a customer.updated changed (``address.<part>`` per part)."""
    data = raw_event.get("data")
    if not isinstance(data, Mapping):
        return ()
    previous = data.get("previous_attributes")
    obj = data.get("object")
    if not isinstance(previous, Mapping) or not isinstance(obj, Mapping):
        return ()
    out: list[str] = []
    for name, old in previous.items():
        if name != "address":
            out.append(name)
            continue
        new = obj.get("address") if isinstance(obj.get("address"), Mapping) else {}
        old_parts = old if isinstance(old, Mapping) else {}
        assert isinstance(new, Mapping)
        out.extend(
            ADDRESS + p
            for p in ADDRESS_PARTS
            if (p in old_parts or not isinstance(old, Mapping)) and old_parts.get(p) != new.get(p)
        )
    return tuple(sorted(out))


def contested(raw_event: Mapping[str, Any], config: SyncConfig) -> tuple[ReverseMapping, ...]:
    """The active mappings whose Stripe field this event changed against Salesforce's
    ownership (none when the reverse flow or its re-assertion is off, or stripe2sf caused
    the event)."""
    table = config.salesforce_to_stripe
    if (
        not table.enabled
        or not table.reassert_on_conflict
        or raw_event.get("type") not in CONFLICT_TYPES
        or caused_by_stripe2sf(raw_event)
    ):
        return ()
    edited = set(stripe_edits(raw_event))
    found = [m for m in active_mappings(config) if m.stripe_field in edited]
    if any(m.stripe_field.startswith(ADDRESS) for m in found):  # re-asserted as one address
        found += [
            m
            for m in active_mappings(config)
            if m.stripe_field.startswith(ADDRESS) and m not in found
        ]
    return tuple(found)


def _shown(value: Any) -> str:
    return "(empty)" if value in (None, "") else repr(value)


def reassert(
    event_id: str,
    customer_id: str,
    edited: Mapping[str, Any],
    customer: Mapping[str, Any],
    mappings: tuple[ReverseMapping, ...],
    salesforce: Mapping[str, Mapping[str, Any]],
) -> tuple[StripeUpdate | None, tuple[tuple[str, str], ...]]:
    """The update that puts Salesforce's values back on `customer` (as Stripe holds it now;
    `edited`: as the event showed it), and a (field, "conflict: ...") note per field the edit made
    differ from Salesforce's value (also when Stripe holds Salesforce's value again by now: no
    update then). `salesforce`: object -> the linked record's fields, as read; mappings whose
    record was not read are left out."""
    usable = [m for m in mappings if m.sobject in salesforce]
    names = {m.stripe_field: m.fields for m in usable}
    values: dict[str, Any] = {}
    for m in usable:
        for f in m.fields:
            if f in salesforce[m.sobject]:
                values[f] = salesforce[m.sobject][f]
    wanted, _missing = wanted_values(usable, names, values)
    sources = {m.stripe_field: m.source_text for m in usable}
    address = edited.get("address") if isinstance(edited.get("address"), Mapping) else {}
    assert isinstance(address, Mapping)

    def stripe_value(f: str) -> Any:
        return address.get(f.removeprefix(ADDRESS)) if f.startswith(ADDRESS) else edited.get(f)

    params, written = differing_params(wanted, customer)
    notes = tuple(
        (
            f,
            f"conflict: customer.{f} of {customer_id} was changed in Stripe to "
            f"{_shown(stripe_value(f))} while {sources[f]} (owned by Salesforce) holds "
            f"{_shown(wanted[f])}: kept Salesforce's value"
            + ("" if f in written else " (Stripe holds it again already)"),
        )
        for f in sorted(wanted)
        if not same_value(stripe_value(f), wanted[f])
    )
    if not params:
        return None, notes
    key = idempotency_key(event_id, customer_id, params)
    texts = tuple(text for _, text in notes)
    return StripeUpdate(event_id, customer_id, params, written, key, texts), notes
