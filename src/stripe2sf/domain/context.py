"""What the I/O code found out for one event, as typed values the planner reads.

The worker asks `lookups.lookups_needed(event, config, context)` what to fetch, performs
those reads (Stripe API, SOQL, the sync ledger), folds each answer in with
`context.with_result(lookup, raw)` and asks again until nothing is needed. Raw answers are
what the boundaries naturally return: a Stripe object dict (or None when not found), the
`records` list of a SOQL answer, an int (ledger timestamp) or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stripe2sf.domain.paths import as_str, list_data


class LookupKind(StrEnum):
    STRIPE_CUSTOMER = "stripe.customer"  # key: customer id -> customer dict | None
    STRIPE_CHARGE = "stripe.charge"  # key: charge id -> charge dict | None
    STRIPE_PRODUCT = "stripe.product"  # key: product id -> product dict | None
    STRIPE_PAYMENT_METHOD = "stripe.payment_method"  # key: pm id -> payment method dict | None
    STRIPE_SUBSCRIPTIONS = "stripe.customer_subscriptions"  # key: customer id -> list (status=all)
    STRIPE_OPEN_INVOICES = "stripe.customer_open_invoices"  # key: customer id -> list (status=open)
    STRIPE_REFETCH = "stripe.refetch"  # key: "<object type>:<id>" -> fresh object dict | None
    # key: payment intent id -> the id of the invoice it paid | None (charges and payment
    # intents stopped naming their invoice in 2025-03-31.basil: Stripe's invoice payments do)
    STRIPE_PAYMENT_INVOICE = "stripe.payment_invoice"
    SF_ACCOUNT_BY_CUSTOMER = "salesforce.account_by_customer"  # SOQL -> records
    SF_CONTACT_BY_CUSTOMER = "salesforce.contact_by_customer"  # SOQL -> records
    SF_CONTACTS_BY_EMAIL = "salesforce.contacts_by_email"  # SOQL -> records
    SF_ACCOUNTS_BY_DOMAIN = "salesforce.accounts_by_domain"  # SOQL -> records
    SF_QUEUE = "salesforce.queue"  # SOQL -> records (Group)
    SF_OPEN_DUNNING = "salesforce.open_dunning"  # SOQL -> records (Task or Case)
    SF_REVIEW_TASK = "salesforce.review_task"  # key: customer id; SOQL -> records (Task)
    # key: "<Account|Contact>:<customer id>" -> the records a duplicate rule matched when it
    # refused to create the customer's record (`matching.duplicates`); SOQL -> records
    SF_DUPLICATE_RECORDS = "salesforce.duplicate_records"
    LEDGER = "ledger"  # key: Stripe object id -> last Stripe timestamp written (int) | None
    # key: claim_key(customer id, email) -> the customer id that holds the email (our
    # database; asking claims it for this customer if nobody holds it yet)
    EMAIL_CLAIM = "email_claim"
    # key: customer id -> whether stripe2sf remembers its Account and Contact (our database):
    # True, False, or None when the answerer cannot tell (e.g. a backfill)
    LINKED = "linked"
    # key: "<Account|Contact>:<customer id>" -> the `DuplicateReport` of a create a duplicate
    # rule refused (never read: the engine puts it in when it plans the event again)
    DUPLICATE = "duplicate"


def normalize_email(email: str) -> str:
    """One spelling per email address: `Ada@Example.com ` and `ada@example.com` are one."""
    return email.strip().lower()


def claim_key(customer_id: str, email: str) -> str:
    """The EMAIL_CLAIM lookup key: who asks (a Stripe customer id holds no colon) and what."""
    return f"{customer_id}:{normalize_email(email)}"


def parse_claim_key(key: str) -> tuple[str, str]:
    """(customer id, normalized email) of an EMAIL_CLAIM key."""
    customer_id, _, email = key.partition(":")
    return customer_id, email


@dataclass(frozen=True)
class Lookup:
    """One read the I/O code must do. Salesforce kinds carry the SOQL to run."""

    kind: LookupKind
    key: str
    soql: str | None = None

    @property
    def is_stripe(self) -> bool:
        return self.kind.value.startswith("stripe.")

    @property
    def is_salesforce(self) -> bool:
        return self.kind.value.startswith("salesforce.")

    @property
    def is_local(self) -> bool:
        """Answered from stripe2sf's own database: no Stripe or Salesforce call."""
        return not (self.is_stripe or self.is_salesforce)


def parse_sf_datetime(value: Any) -> datetime | None:
    """Salesforce `2024-05-01T12:00:00.000+0000` (or a Date) -> aware datetime."""
    text = as_str(value)
    if text is None:
        return None
    text = text.replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass(frozen=True)
class AccountRecord:
    id: str
    owner_id: str | None = None
    name: str | None = None
    created: datetime | None = None
    last_activity: datetime | None = None
    customer_id: str | None = None
    billing_status: str | None = None
    website: str | None = None
    is_person: bool | None = None  # a person account (None: not read, a business org)
    person_contact_id: str | None = None


@dataclass(frozen=True)
class ContactRecord:
    id: str
    email: str | None = None
    account_id: str | None = None
    owner_id: str | None = None
    created: datetime | None = None
    last_activity: datetime | None = None
    customer_id: str | None = None
    account_customer_id: str | None = None  # the Stripe customer its Account is linked to


@dataclass(frozen=True)
class DunningRecord:
    id: str
    dedupe_key: str
    created: datetime | None = None


@dataclass(frozen=True)
class FieldNames:
    """Salesforce field names the context reads rows with (from `config.objects`)."""

    customer_id: str = "Stripe_Customer_Id__c"
    dedupe_key: str = "Stripe_Dedupe_Key__c"
    billing_status: str = "Billing_Status__c"
    domain: str = "Website"
    person: bool = False  # the org has person accounts: Account rows say which are


def account_from_row(row: Mapping[str, Any], names: FieldNames) -> AccountRecord:
    return AccountRecord(
        id=str(row.get("Id")),
        owner_id=as_str(row.get("OwnerId")),
        name=as_str(row.get("Name")),
        created=parse_sf_datetime(row.get("CreatedDate")),
        last_activity=parse_sf_datetime(row.get("LastActivityDate")),
        customer_id=as_str(row.get(names.customer_id)),
        billing_status=as_str(row.get(names.billing_status)),
        website=as_str(row.get(names.domain)),
        is_person=row["IsPersonAccount"] is True if "IsPersonAccount" in row else None,
        person_contact_id=as_str(row.get("PersonContactId")),
    )


def contact_from_row(row: Mapping[str, Any], names: FieldNames) -> ContactRecord:
    parent = row.get("Account")
    return ContactRecord(
        id=str(row.get("Id")),
        email=as_str(row.get("Email")),
        account_id=as_str(row.get("AccountId")),
        owner_id=as_str(row.get("OwnerId")),
        created=parse_sf_datetime(row.get("CreatedDate")),
        last_activity=parse_sf_datetime(row.get("LastActivityDate")),
        customer_id=as_str(row.get(names.customer_id)),
        account_customer_id=(
            as_str(parent.get(names.customer_id)) if isinstance(parent, Mapping) else None
        ),
    )


def _rows(raw: Any) -> list[Mapping[str, Any]]:
    if isinstance(raw, Mapping) and "records" in raw:
        raw = raw["records"]
    return list_data(raw)


@dataclass(frozen=True)
class PlanContext:
    """Answers to lookups, keyed by (kind, key). Missing key = lookup not done."""

    results: Mapping[tuple[LookupKind, str], Any] = field(default_factory=dict)
    names: FieldNames = FieldNames()

    def has(self, kind: LookupKind, key: str) -> bool:
        return (kind, key) in self.results

    def get(self, kind: LookupKind, key: str) -> Any:
        return self.results.get((kind, key))

    def with_result(self, lookup: Lookup, raw: Any) -> PlanContext:
        """A new context with the raw answer to `lookup` parsed in."""
        return self.with_results({lookup: raw})

    def with_results(self, answers: Mapping[Lookup, Any]) -> PlanContext:
        """A new context with the raw answers parsed in (one copy of the results, however
        many answers)."""
        merged = dict(self.results)
        for lookup, raw in answers.items():
            merged[(lookup.kind, lookup.key)] = self._parsed(lookup, raw)
        return replace(self, results=merged)

    def _parsed(self, lookup: Lookup, raw: Any) -> Any:
        value: Any = raw
        if lookup.kind in (LookupKind.SF_ACCOUNT_BY_CUSTOMER, LookupKind.SF_ACCOUNTS_BY_DOMAIN):
            value = tuple(account_from_row(r, self.names) for r in _rows(raw))
        elif lookup.kind in (LookupKind.SF_CONTACTS_BY_EMAIL, LookupKind.SF_CONTACT_BY_CUSTOMER):
            value = tuple(contact_from_row(r, self.names) for r in _rows(raw))
        elif lookup.kind == LookupKind.SF_QUEUE:
            rows = _rows(raw)
            value = as_str(rows[0].get("Id")) if rows else None
        elif lookup.kind in (LookupKind.SF_OPEN_DUNNING, LookupKind.SF_REVIEW_TASK):
            value = tuple(
                DunningRecord(
                    id=str(r.get("Id")),
                    dedupe_key=str(r.get(self.names.dedupe_key)),
                    created=parse_sf_datetime(r.get("CreatedDate")),
                )
                for r in _rows(raw)
            )
        elif lookup.kind in (LookupKind.STRIPE_SUBSCRIPTIONS, LookupKind.STRIPE_OPEN_INVOICES):
            value = tuple(list_data(raw))
        elif lookup.kind == LookupKind.LEDGER:
            value = int(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        elif lookup.kind in (LookupKind.EMAIL_CLAIM, LookupKind.STRIPE_PAYMENT_INVOICE):
            value = as_str(raw)
        elif lookup.kind == LookupKind.LINKED:
            value = raw if isinstance(raw, bool) else None
        elif lookup.kind == LookupKind.DUPLICATE:
            value = raw
        elif lookup.kind == LookupKind.SF_DUPLICATE_RECORDS:
            parse = account_from_row if lookup.key.startswith("Account:") else contact_from_row
            value = tuple(parse(r, self.names) for r in _rows(raw))
        elif raw is not None and not isinstance(raw, Mapping):
            raise TypeError(f"{lookup.kind}: expected a Stripe object dict or None")
        return value

    # typed readers ---------------------------------------------------------------
    def account_for(self, customer_id: str) -> AccountRecord | None:
        found = self.get(LookupKind.SF_ACCOUNT_BY_CUSTOMER, customer_id) or ()
        return found[0] if found else None

    def linked_contact(self, customer_id: str) -> ContactRecord | None:
        found = self.get(LookupKind.SF_CONTACT_BY_CUSTOMER, customer_id) or ()
        return found[0] if found else None

    def email_holder(self, customer_id: str, email: str) -> str | None:
        """The Stripe customer that holds `email` (None: not looked up, or nobody)."""
        return as_str(self.get(LookupKind.EMAIL_CLAIM, claim_key(customer_id, email)))

    def contacts_for(self, email: str) -> tuple[ContactRecord, ...]:
        found = self.get(LookupKind.SF_CONTACTS_BY_EMAIL, email.strip().lower()) or ()
        # exact, case-insensitive: SOQL `=` is case-insensitive, but be sure
        return tuple(c for c in found if (c.email or "").strip().lower() == email.strip().lower())

    def accounts_for_domain(self, domain: str) -> tuple[AccountRecord, ...]:
        return tuple(self.get(LookupKind.SF_ACCOUNTS_BY_DOMAIN, domain) or ())

    def stripe(self, kind: LookupKind, key: str) -> Mapping[str, Any] | None:
        value = self.get(kind, key)
        return value if isinstance(value, Mapping) else None

    def payment_invoice(self, payment_intent_id: str | None) -> str | None:
        """The invoice a payment intent paid, when asked (`STRIPE_PAYMENT_INVOICE`)."""
        value = self.get(LookupKind.STRIPE_PAYMENT_INVOICE, payment_intent_id or "")
        return value if isinstance(value, str) else None

    def remembered(self, customer_id: str) -> bool | None:
        """Whether stripe2sf remembers the customer's Account and Contact; None: unknown."""
        value = self.get(LookupKind.LINKED, customer_id)
        return value if isinstance(value, bool) else None

    def ledger(self, object_id: str) -> int | None:
        value = self.get(LookupKind.LEDGER, object_id)
        return value if isinstance(value, int) else None

    def open_invoices(self, customer_id: str) -> tuple[Mapping[str, Any], ...] | None:
        """The customer's open (unpaid) Stripe invoices; None when not looked up."""
        if not self.has(LookupKind.STRIPE_OPEN_INVOICES, customer_id):
            return None
        return tuple(self.get(LookupKind.STRIPE_OPEN_INVOICES, customer_id) or ())

    def open_dunning(self, invoice_id: str) -> tuple[DunningRecord, ...]:
        return tuple(self.get(LookupKind.SF_OPEN_DUNNING, invoice_id) or ())

    def review_task_exists(self, customer_id: str) -> bool | None:
        """Whether a review Task for this customer exists (None: not looked up)."""
        if not self.has(LookupKind.SF_REVIEW_TASK, customer_id):
            return None
        return bool(self.get(LookupKind.SF_REVIEW_TASK, customer_id))

    def queue_id(self, name: str) -> str | None:
        value = self.get(LookupKind.SF_QUEUE, name)
        return value if isinstance(value, str) else None
