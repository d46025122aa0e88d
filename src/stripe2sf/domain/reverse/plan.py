"""A captured Salesforce change -> the Stripe customer update it calls for (pure).

plan_change      change + config -> Salesforce's values of the mapped Stripe fields it
                 changed (`wanted`), the fields to read first (a name or an address whose
                 other parts the change does not carry), what was skipped and why
targets          which Stripe customers the change is for (the linked ones; a Contact
                 only for the customer whose primary Contact it is)
update_for       wanted + the customer as Stripe holds it -> the params that differ, with
                 an idempotency key derived from the change and the params
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX, SalesforceChange
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.matching.links import Link
from stripe2sf.domain.reverse.echo import salesforce_echo_reason
from stripe2sf.domain.reverse.mapping import ReverseMapping, active_mappings, all_mappings

ADDRESS_PARTS = ("line1", "line2", "city", "state", "postal_code", "country")
ADDRESS = "address."


@dataclass(frozen=True)
class Skip:
    """Something not sent to Stripe: `kind` groups it (metrics), `reason` says why (audit)."""

    kind: str  # echo | deleted | not_mapped | stripe_owned | not_linked | not_primary |
    # unchanged | customer_gone | disabled
    reason: str
    fields: tuple[str, ...] = ()
    customer_id: str | None = None


@dataclass(frozen=True)
class ChangePlan:
    event_id: str
    wanted: Mapping[str, str | None] = field(default_factory=dict)  # Stripe field -> value
    sources: Mapping[str, str] = field(default_factory=dict)  # Stripe field -> "Object.Field"
    needs: tuple[str, ...] = ()  # fields of the changed record to read, then plan again
    skipped: tuple[Skip, ...] = ()


@dataclass(frozen=True)
class StripeUpdate:
    """One Stripe customer update: only the params that differ from what Stripe holds."""

    event_id: str
    customer_id: str
    params: Mapping[str, Any]
    fields: tuple[str, ...]  # Stripe fields written ("email", "address.city")
    idempotency_key: str
    notes: tuple[str, ...] = ()  # conflicts resolved on the way


def _present(change: SalesforceChange) -> set[str]:
    """The fields the change says changed (a creation or undeletion: every field it carries)."""
    if change.change in ("created", "undeleted"):
        return set(change.fields) | set(change.changed)
    return set(change.changed)


def _join(parts: Sequence[Any]) -> str | None:
    text = " ".join(str(p).strip() for p in parts if p not in (None, "") and str(p).strip())
    return text or None


def wanted_values(
    mappings: Iterable[ReverseMapping],
    names: Mapping[str, tuple[str, ...]],
    values: Mapping[str, Any],
) -> tuple[dict[str, str | None], tuple[str, ...]]:
    """Salesforce's value of each mapping's Stripe field from `values` (field name as
    `names` gives it -> value), and the names missing from `values`."""
    wanted: dict[str, str | None] = {}
    missing: list[str] = []
    for m in mappings:
        parts = names[m.stripe_field]
        lacking = [n for n in parts if n not in values]
        if lacking:
            missing.extend(n for n in lacking if n not in missing)
            continue
        wanted[m.stripe_field] = _join([values[n] for n in parts])
    return wanted, tuple(missing)


def plan_change(
    change: SalesforceChange,
    config: SyncConfig,
    own_user_ids: Iterable[str] = (),
    known: Mapping[str, Any] | None = None,
) -> ChangePlan:
    """What `change` asks of Stripe; `known`: the changed record's fields read from Salesforce
    (after a plan said it `needs` them). The change's own values win over `known`."""
    eid = change.event_id
    table = config.salesforce_to_stripe
    if not table.enabled:
        return ChangePlan(eid, skipped=(Skip("disabled", "[salesforce_to_stripe] is off"),))
    echo = salesforce_echo_reason(change, [*own_user_ids, *table.ignore_user_ids])
    if echo is not None:
        return ChangePlan(eid, skipped=(Skip("echo", echo),))
    if change.change == "deleted":
        return ChangePlan(
            eid,
            skipped=(
                Skip(
                    "deleted",
                    f"{change.entity} {change.record_id} deleted in Salesforce: the Stripe "
                    "customer is left as it is (stripe2sf never deletes in Stripe)",
                ),
            ),
        )
    person = config.person_accounts
    present = _present(change)
    relevant: dict[str, ReverseMapping] = {}
    names: dict[str, tuple[str, ...]] = {}
    for m in active_mappings(config):
        found = m.change_fields(change.entity, person)
        if found is not None:
            names[m.stripe_field] = found
            if present & set(found):
                relevant[m.stripe_field] = m
    if any(k.startswith(ADDRESS) for k in relevant):  # the address parts go together
        for m in active_mappings(config):
            if m.stripe_field.startswith(ADDRESS) and m.stripe_field in names:
                relevant[m.stripe_field] = m
    skipped: list[Skip] = []
    for m in all_mappings(config):
        found = m.change_fields(change.entity, person)
        if found is None or m.stripe_field in relevant or not present & set(found):
            continue
        owned = m.stripe_owned(config)
        skipped.append(
            Skip(
                "stripe_owned",
                f"{', '.join(owned)} changed in Salesforce, but Stripe owns it ([ownership]): "
                f"not written to customer.{m.stripe_field}",
                fields=(m.stripe_field,),
            )
        )
    if not relevant:
        if not skipped:
            skipped.append(
                Skip(
                    "not_mapped",
                    f"no field mapped to Stripe changed in {change.entity} {change.record_id} "
                    f"(changed: {', '.join(sorted(present)) or 'none'})",
                )
            )
        return ChangePlan(eid, skipped=tuple(skipped))
    values = {**(known or {}), **change.fields}
    wanted, missing = wanted_values(relevant.values(), names, values)
    sources = {k: m.source_text for k, m in relevant.items()}
    return ChangePlan(eid, wanted, sources, missing, tuple(skipped))


def targets(
    change: SalesforceChange, linked: Mapping[str, Link]
) -> tuple[tuple[str, ...], tuple[Skip, ...]]:
    """The Stripe customers `change` is for, from the links stripe2sf knows (`linked`: customer
    -> link, those whose Account or Contact is the changed record, and the change's own
    `customer_id`). A Contact change goes only to the customer whose primary Contact it is."""
    rid = change.record_id[:15]
    found: list[str] = []
    skipped: list[Skip] = []
    candidates = dict(linked)
    if change.customer_id and change.customer_id not in candidates:
        candidates[change.customer_id] = Link(None, None)  # capture knew it; no row here
    for cid in sorted(candidates):
        link = candidates[cid]
        if change.entity == "Contact":
            if link.contact_id and link.contact_id[:15] != rid:
                skipped.append(
                    Skip(
                        "not_primary",
                        f"Contact {change.record_id} is not the primary Contact of {cid} "
                        f"(that is {link.contact_id}); its changes are not sent to Stripe",
                        customer_id=cid,
                    )
                )
                continue
        elif change.entity == "Account" and link.account_id and link.account_id[:15] != rid:
            continue
        found.append(cid)
    if not found and not skipped:
        skipped.append(
            Skip(
                "not_linked",
                f"{change.entity} {change.record_id} is linked to no Stripe customer; nothing "
                "to update in Stripe",
            )
        )
    return tuple(found), tuple(skipped)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def same_value(a: Any, b: Any) -> bool:
    """Equal, an empty string and None being the same (Stripe clears with '')."""
    return (_blank(a) and _blank(b)) or a == b


def idempotency_key(event_id: str, customer_id: str, params: Mapping[str, Any]) -> str:
    """``stripe2sf-<hash>`` of the event and the params: a redelivery or a retry of the same
    write sends the same key (Stripe answers it once); Stripe names it in the events the
    write causes, which is how the echo comes back recognised."""
    text = json.dumps([event_id, customer_id, params], sort_keys=True, separators=(",", ":"))
    return IDEMPOTENCY_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:40]


def differing_params(
    wanted: Mapping[str, str | None], customer: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The update params that bring `customer` to `wanted`, and the Stripe fields they write.
    Address parts go as one address (Stripe replaces it whole): the unmapped parts keep
    Stripe's values."""
    params: dict[str, Any] = {}
    written: list[str] = []
    for name, value in sorted(wanted.items()):
        if name.startswith(ADDRESS):
            continue
        if not same_value(customer.get(name), value):
            params[name] = value if value is not None else ""
            written.append(name)
    parts = {k.removeprefix(ADDRESS): v for k, v in wanted.items() if k.startswith(ADDRESS)}
    if parts:
        current = customer.get("address") if isinstance(customer.get("address"), Mapping) else {}
        assert isinstance(current, Mapping)
        changed = [p for p, v in sorted(parts.items()) if not same_value(current.get(p), v)]
        if changed:
            params["address"] = {
                p: (parts[p] if p in parts else current.get(p)) or ""
                for p in ADDRESS_PARTS
                if p in parts or not _blank(current.get(p))
            }
            written.extend(ADDRESS + p for p in changed)
    return params, tuple(written)


def update_for(
    plan: ChangePlan,
    customer_id: str,
    customer: Mapping[str, Any] | None,
    notes: tuple[str, ...] = (),
) -> StripeUpdate | Skip:
    """The update of `customer` (as Stripe holds it now) that `plan` calls for."""
    if customer is None or customer.get("deleted"):
        return Skip(
            "customer_gone",
            f"Stripe customer {customer_id} is deleted or not found; Salesforce's values not sent",
            customer_id=customer_id,
        )
    params, written = differing_params(plan.wanted, customer)
    if not params:
        return Skip(
            "unchanged",
            f"Stripe customer {customer_id} already holds Salesforce's values of "
            f"{', '.join(sorted(plan.wanted))}",
            fields=tuple(sorted(plan.wanted)),
            customer_id=customer_id,
        )
    key = idempotency_key(plan.event_id, customer_id, params)
    return StripeUpdate(plan.event_id, customer_id, params, written, key, notes)
