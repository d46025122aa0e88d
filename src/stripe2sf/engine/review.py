"""Resolving a review by hand: an operator picks the Contact of a Stripe customer whose email
matched several Contacts. stripe2sf links that Contact (its customer-id field), records the
write in the audit trail, and replays the customer's events so they follow the link."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from stripe2sf.domain.audit import records_from_plan
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.operations import Operation, Plan
from stripe2sf.domain.soql import quote
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_sync_config
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.reports import Reports

RESOLVED_PREFIX = "review-resolved:"
SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]+$")


class ReviewError(ValueError):
    """The resolution cannot be made; the message says why."""


@dataclass(frozen=True)
class Candidate:
    """A Contact a person may pick for a customer under review (found by its email)."""

    contact_id: str
    name: str
    email: str
    account: str
    owner: str
    last_activity: str  # YYYY-MM-DD, "" when none
    linked_to: str  # the customer id the Contact is linked to, "" when free


def candidates_soql(customer_id_field: str, email: str) -> str:
    return (
        f"SELECT Id, Name, Email, Account.Name, Account.Owner.Name, LastActivityDate, "
        f"{customer_id_field} FROM Contact WHERE Email = {quote(email)} "
        "ORDER BY LastActivityDate DESC NULLS LAST, CreatedDate LIMIT 20"
    )


def _parent(row: dict[str, object], *path: str) -> str:
    value: object = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def candidates(runtime: Runtime, email: str) -> list[Candidate]:
    """The Contacts with the customer's email, with their Account, its owner and their last
    activity: what a person needs to pick one. Raises ReviewError when Salesforce is not
    configured."""
    salesforce = runtime.salesforce
    if salesforce is None:
        raise ReviewError("Salesforce is not configured: no Contacts to show")
    if not email:
        return []
    field = load_sync_config(runtime.settings).objects.customer_id_field
    rows = salesforce.query_all(candidates_soql(field, email))
    return [
        Candidate(
            contact_id=str(r["Id"]),
            name=_parent(r, "Name"),
            email=_parent(r, "Email"),
            account=_parent(r, "Account", "Name"),
            owner=_parent(r, "Account", "Owner", "Name"),
            last_activity=_parent(r, "LastActivityDate"),
            linked_to=_parent(r, field),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Resolved:
    customer_id: str
    contact_id: str
    replayed: int


def resolve(runtime: Runtime, customer_id: str, contact_id: str, by: str) -> Resolved:
    if not CUSTOMER_ID.match(customer_id):
        raise ReviewError(f"{customer_id!r} is not a Stripe customer id")
    if not SALESFORCE_ID.match(contact_id) or not contact_id.startswith("003"):
        raise ReviewError(f"{contact_id!r} is not a Salesforce Contact id (003...)")
    salesforce = runtime.salesforce
    if salesforce is None:
        raise ReviewError("Salesforce is not configured: nothing to link")
    field = load_sync_config(runtime.settings).objects.customer_id_field
    operation = Operation(
        "link",
        "update",
        "Contact",
        "Id",
        contact_id,
        {field: customer_id},
        reason=f"review resolved by hand by {by}",
    )
    plan = Plan(f"{RESOLVED_PREFIX}{by}", "review.resolved", (operation,), customer_id)
    calls = batch(plan.operations, api_version=f"v{salesforce.api_version.lstrip('v')}")
    result = salesforce.execute(calls)
    records = records_from_plan(
        plan, result.outcomes, at=datetime.now(UTC).isoformat(), customer_id=customer_id
    )
    AuditTrail(runtime.engine).add(records)
    outcome = result.outcomes.get("link")
    if outcome is None or not outcome.ok:
        raise ReviewError(f"Salesforce refused the link: {outcome.error if outcome else '?'}")
    ids = [
        r["event_id"] for r in Reports(runtime.engine).search_events(text=customer_id, limit=1000)
    ]
    replayed = runtime.inbox.replay(ids, datetime.now(UTC))
    return Resolved(customer_id, contact_id, len(replayed))
