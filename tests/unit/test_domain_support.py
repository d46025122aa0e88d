"""Builders for Stripe-shaped objects and a tiny in-memory answerer for planner lookups.

Shared by the test_domain_* modules; the answerer plays the I/O code's part (Stripe reads,
SOQL, ledger) over plain dicts so the pure planner can be driven end to end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext, parse_claim_key
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.flows.subjects import parse_refetch_key
from stripe2sf.domain.operations import Plan

T0 = 1_750_000_000


def envelope(
    etype: str,
    obj: dict[str, Any],
    *,
    created: int = T0,
    event_id: str = "evt_1",
    previous: dict[str, Any] | None = None,
    api_version: str = "2026-04-22.dahlia",
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "livemode": False,
        "type": etype,
        "data": data,
    }


def charge(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "ch_1",
        "object": "charge",
        "amount": 1999,
        "amount_refunded": 0,
        "currency": "usd",
        "customer": "cus_1",
        "created": T0 - 5,
        "status": "succeeded",
        "paid": True,
        "refunded": False,
        "invoice": None,
        "payment_intent": "pi_1",
        "billing_details": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "payment_method_details": {
            "type": "card",
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        },
        "metadata": {},
    }
    base.update(kw)
    return base


def customer(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "cus_1",
        "object": "customer",
        "email": "Ada@Example.com",
        "name": "Ada Lovelace",
        "created": T0 - 1000,
        "invoice_settings": {"default_payment_method": None},
        "default_source": None,
        "metadata": {},
    }
    base.update(kw)
    return base


def subscription(
    *,
    sub_id: str = "sub_1",
    status: str = "active",
    unit_amount: int = 5000,
    quantity: int = 2,
    interval: str = "month",
    new_shape: bool = True,
    product: Any = "prod_1",
    created: int = T0 - 100,
    **kw: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"si_{sub_id}",
        "object": "subscription_item",
        "quantity": quantity,
        "price": {
            "id": "price_1",
            "object": "price",
            "currency": "usd",
            "unit_amount": unit_amount,
            "product": product,
            "nickname": None,
            "recurring": {"interval": interval, "interval_count": 1},
        },
    }
    base: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "customer": "cus_1",
        "status": status,
        "created": created,
        "cancel_at_period_end": False,
        "items": {"object": "list", "data": [item]},
        "metadata": {},
    }
    if new_shape:
        item["current_period_end"] = T0 + 86400 * 30
    else:
        base["current_period_end"] = T0 + 86400 * 30
    base.update(kw)
    return base


def invoice(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_1",
        "number": "INV-0001",
        "currency": "usd",
        "amount_due": 4900,
        "amount_paid": 0,
        "amount_remaining": 4900,
        "attempt_count": 1,
        "next_payment_attempt": T0 + 3 * 86400,
        "hosted_invoice_url": "https://invoice.stripe.com/i/test",
        "status": "open",
        "created": T0 - 50,
        "parent": {
            "subscription_details": {"subscription": "sub_1"},
            "type": "subscription_details",
        },
        "status_transitions": {"paid_at": None},
    }
    base.update(kw)
    return base


def payment_method(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "pm_1",
        "object": "payment_method",
        "type": "card",
        "customer": "cus_1",
        "card": {"brand": "mastercard", "last4": "4444", "exp_month": 3, "exp_year": 2029},
    }
    base.update(kw)
    return base


def account_row(
    acc_id: str = "001A", *, customer_id: str | None = "cus_1", owner: str = "005OWNER", **kw: Any
) -> dict[str, Any]:
    row = {
        "Id": acc_id,
        "Name": "Acme",
        "OwnerId": owner,
        "CreatedDate": "2020-01-01T00:00:00.000+0000",
        "LastActivityDate": None,
        "Stripe_Customer_Id__c": customer_id,
        "Billing_Status__c": None,
        "Website": None,
    }
    row.update(kw)
    return row


def contact_row(
    con_id: str = "003A",
    *,
    email: str = "ada@example.com",
    account_id: str | None = "001A",
    created: str = "2020-01-01T00:00:00.000+0000",
    last_activity: str | None = None,
    customer_id: str | None = None,
    owner: str = "005CONTACTOWNER",
) -> dict[str, Any]:
    return {
        "Id": con_id,
        "Email": email,
        "AccountId": account_id,
        "OwnerId": owner,
        "CreatedDate": created,
        "LastActivityDate": last_activity,
        "Stripe_Customer_Id__c": customer_id,
    }


@dataclass
class FakeOrg:
    """Answers lookups from in-memory Stripe objects, Salesforce rows and a ledger."""

    stripe: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> object
    accounts: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)
    dunning: list[dict[str, Any]] = field(default_factory=list)
    ledger: dict[str, int] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)  # normalized email -> customer id
    # customer id -> whether stripe2sf remembers its records (LINKED); absent: unknown
    remembered: dict[str, bool] = field(default_factory=dict)
    asked: list[Lookup] = field(default_factory=list)
    # ids Stripe answers 404 for; an id neither here nor in `stripe` is answered as the
    # payload of the event being planned has it (`payload`, set by `gather`)
    missing: set[str] = field(default_factory=set)
    payload: dict[str, Any] | None = None
    # payment intent id -> the invoice it paid (Stripe's invoice payments, API basil and later)
    payment_invoices: dict[str, str] = field(default_factory=dict)

    def _refetch(self, key: str) -> Any:
        _, object_id, expand = parse_refetch_key(key)
        if object_id in self.missing:
            return None
        found = self.stripe.get(object_id) or self._in_payload(object_id)
        if found is not None and "charge" in expand and isinstance(found.get("charge"), str):
            charge = self.stripe.get(found["charge"])
            found = {**found, "charge": charge} if charge is not None else found
        return found

    def _in_payload(self, object_id: str) -> dict[str, Any] | None:
        """The object as the planned event's payload has it: itself or an embedded charge."""
        obj = self.payload or {}
        candidates = [obj, obj.get("latest_charge"), obj.get("charge")]
        charges = obj.get("charges")
        if isinstance(charges, dict):
            candidates.extend(charges.get("data") or [])
        for candidate in candidates:
            if isinstance(candidate, dict) and candidate.get("id") == object_id:
                return candidate
        return None

    def answer(self, lookup: Lookup) -> Any:
        self.asked.append(lookup)
        k, key = lookup.kind, lookup.key
        if k == LookupKind.LEDGER:
            return self.ledger.get(key)
        if k == LookupKind.LINKED:
            return self.remembered.get(key)
        if k == LookupKind.EMAIL_CLAIM:  # insert-if-absent, as store.email_claims does
            customer_id, email = parse_claim_key(key)
            return self.claims.setdefault(email, customer_id)
        if k == LookupKind.STRIPE_SUBSCRIPTIONS:
            return {
                "object": "list",
                "data": [
                    o
                    for o in self.stripe.values()
                    if o.get("object") == "subscription" and o.get("customer") == key
                ],
            }
        if k == LookupKind.STRIPE_OPEN_INVOICES:
            return [
                o
                for o in self.stripe.values()
                if o.get("object") == "invoice"
                and o.get("customer") == key
                and o.get("status") == "open"
            ]
        if k == LookupKind.STRIPE_REFETCH:
            return self._refetch(key)
        if k == LookupKind.STRIPE_PAYMENT_INVOICE:
            return self.payment_invoices.get(key)
        if lookup.is_stripe:
            return None if key in self.missing else self.stripe.get(key)
        if k == LookupKind.SF_ACCOUNT_BY_CUSTOMER:
            rows = [a for a in self.accounts if a.get("Stripe_Customer_Id__c") == key]
        elif k == LookupKind.SF_CONTACT_BY_CUSTOMER:
            rows = [c for c in self.contacts if c.get("Stripe_Customer_Id__c") == key]
        elif k == LookupKind.SF_CONTACTS_BY_EMAIL:
            rows = [c for c in self.contacts if (c.get("Email") or "").lower() == key]
        elif k == LookupKind.SF_ACCOUNTS_BY_DOMAIN:
            rows = [a for a in self.accounts if key in (a.get("Website") or "")]
        elif k == LookupKind.SF_QUEUE:
            rows = [{"Id": self.queues[key]}] if key in self.queues else []
        elif k == LookupKind.SF_REVIEW_TASK:
            rows = [d for d in self.dunning if d["Stripe_Dedupe_Key__c"] == f"review:{key}"]
        elif k == LookupKind.SF_DUPLICATE_RECORDS:  # ... WHERE Id IN ('a', 'b')
            ids = set(re.findall(r"'([^']+)'", str(lookup.soql).split(" WHERE ", 1)[1]))
            table = self.accounts if key.startswith("Account:") else self.contacts
            rows = [r for r in table if r["Id"] in ids]
        elif k == LookupKind.SF_OPEN_DUNNING:
            rows = [d for d in self.dunning if d["Stripe_Dedupe_Key__c"].startswith(key + ":")]
        else:  # pragma: no cover
            raise AssertionError(lookup)
        return {"totalSize": len(rows), "done": True, "records": rows}


def gather(view: EventView, config: SyncConfig, org: FakeOrg) -> PlanContext:
    org.payload = dict(view.object)
    ctx = context_for(config)
    for _ in range(10):
        needed = lookups_needed(view, config, ctx)
        if not needed:
            return ctx
        ctx = ctx.with_results({lk: org.answer(lk) for lk in needed})
    raise AssertionError("lookups did not converge")


def run(raw: dict[str, Any], org: FakeOrg | None = None, config: SyncConfig | None = None) -> Plan:
    cfg = config or SyncConfig()
    view = parse_event(raw)
    return plan(view, gather(view, cfg, org or FakeOrg()), cfg)


def ops_by_id(p: Plan) -> dict[str, Any]:
    return {op.op_id: op for op in p.operations}


def test_fake_org_answers_soql_shaped_rows() -> None:
    org = FakeOrg(accounts=[account_row()])
    ctx = gather(parse_event(envelope("charge.succeeded", charge())), SyncConfig(), org)
    account = ctx.account_for("cus_1")
    assert account is not None
    assert account.owner_id == "005OWNER"
