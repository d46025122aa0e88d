"""Reconciliation, pure: what Stripe says against what Salesforce holds, as a drift report.

Checks (each drift item names its kind, the Stripe object, the Salesforce record, what was
expected and what was found, and whether `--fix` can repair it through the planner):

- `account_missing` / `account_duplicated`: every Stripe customer is linked to exactly one
  Account (customers waiting in the review queue are listed as `in_review`, not drift);
- `subscription_status`: the Account shows the status the subscription rule gives;
- `card_on_file`: the Account's card fields (when mapped) show the customer's default card;
- `customer_deleted`: the Account of a customer deleted in Stripe is marked deleted (when the
  `customer.deleted` mapping exists); an Account linked to a customer Stripe does not know is
  listed as `account_orphaned` (not drift: a person decides what it is);
- `contact_duplicated`: no two Contacts linked by the sync (customer-id field set) share an
  email. Never repaired automatically: which Contact keeps the activities, opportunities and
  campaign history is a decision Salesforce owns, and deleting or merging loses what hangs on
  the other. `--fix` opens one review Task per email (`review_plan`) and the item stays in the
  report until a person merges the Contacts (Salesforce's Merge Contacts);
- `payment_missing` / `payment_duplicated`: every succeeded or failed charge has exactly one
  payment record;
- `payment_mismatch` / `payment_status` / `payment_refunded`: the record shows the amount (in
  the currency's major unit) and currency (in an org with multiple currencies also as its
  CurrencyIsoCode, which the amount is read in), the status (the planner's vocabulary:
  `ChargeView.payment_status` through the `charge.status` mapping: Succeeded, Failed,
  Refunded, Partially Refunded, Disputed) and the refunded amount the planner would write;
- `dispute_missing`: every open Stripe dispute has its Case (when disputes are on; a closed
  one, won or lost, needs no work, so a history without its Cases is not drift);
- `daily_total`: payment totals per day (UTC) and currency of succeeded charges agree (a
  consequence of the payment checks, shown because it is what finance compares);
- `dunning_missing` / `dunning_stale`: an open Task/Case for every unpaid invoice whose
  payment failed, and none for a paid one.

Every expected value is computed the way the planner computes it (the same views, sources
and mappings), so a check can never disagree with what a sync writes.

    report = diff(stripe_side, salesforce_side, config)
    report.to_csv(); report.to_html(); report.counts()
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from stripe2sf.domain.backfill.plan import envelope, synthetic_event, unpaid_failed
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import parse_sf_datetime
from stripe2sf.domain.flows.subscription_summary import summarize
from stripe2sf.domain.money import currency_exponent, to_major_units
from stripe2sf.domain.operations import Operation, Plan
from stripe2sf.domain.paths import as_str
from stripe2sf.domain.sources import (
    CURRENCY_FIELD,
    charge_sources,
    mapped_fields,
    payment_method_sources,
    subscription_sources,
)
from stripe2sf.domain.stripe_views import (
    ChargeView,
    charge_view,
    dispute_view,
    expanded_default_card,
    invoice_view,
    payment_method_view,
    subscription_view,
)

DriftKind = Literal[
    "account_missing",
    "account_duplicated",
    "account_orphaned",
    "subscription_status",
    "card_on_file",
    "customer_deleted",
    "contact_duplicated",
    "payment_missing",
    "payment_duplicated",
    "payment_mismatch",
    "payment_status",
    "payment_refunded",
    "dispute_missing",
    "daily_total",
    "dunning_missing",
    "dunning_stale",
    "in_review",
]
KIND_TITLES: Mapping[str, str] = {
    "account_missing": "Stripe customer not linked to any Account",
    "account_duplicated": "Stripe customer linked to several Accounts",
    "account_orphaned": "Account linked to a customer Stripe does not know",
    "subscription_status": "Account subscription status differs from Stripe",
    "card_on_file": "Account card on file differs from the customer's default card",
    "customer_deleted": "Customer deleted in Stripe, Account not marked deleted",
    "contact_duplicated": "Several Contacts linked by the sync share one email (review)",
    "payment_missing": "Charge (succeeded or failed) without a payment record",
    "payment_duplicated": "Charge with several payment records",
    "payment_mismatch": "Payment record with another amount or currency",
    "payment_status": "Payment record with another status (refund, dispute, failure)",
    "payment_refunded": "Payment record with another refunded amount",
    "dispute_missing": "Stripe dispute without its Case",
    "daily_total": "Payment totals per day and currency differ",
    "dunning_missing": "Unpaid failed invoice without an open Task/Case",
    "dunning_stale": "Open Task/Case for an invoice that is not owed any more",
    "in_review": "Customer waiting in the review queue (ambiguous match)",
}
# Listed in the report, but not drift: nothing stripe2sf wrote is wrong.
NOT_DRIFT = frozenset({"in_review", "account_orphaned"})
INFORMATIONAL = frozenset({"daily_total"}) | NOT_DRIFT
# A person decides: which Account or Contact stays, which payment record is the real one.
NOT_FIXABLE = frozenset({"account_duplicated", "contact_duplicated", "payment_duplicated"})
NOT_FIXABLE |= INFORMATIONAL
CHECKED_CHARGE_STATUSES = frozenset({"succeeded", "failed"})
CLOSED_DISPUTE_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})
CONTACT_REVIEW_PREFIX = "review-contacts:"


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    stripe_id: str
    customer_id: str | None
    salesforce_id: str | None
    expected: str
    actual: str
    fix_object: str | None = None  # "<phase>:<stripe id>" to plan again, when fixable
    # contact_duplicated: the dedupe key of the review Task `--fix` opens (None: one exists)
    review_key: str | None = None

    @property
    def fixable(self) -> bool:
        return self.kind not in NOT_FIXABLE and self.fix_object is not None

    @property
    def is_drift(self) -> bool:
        return self.kind not in NOT_DRIFT

    def to_row(self) -> list[str]:
        return [
            self.kind,
            self.stripe_id,
            self.customer_id or "",
            self.salesforce_id or "",
            self.expected,
            self.actual,
            "yes" if self.fixable else "no",
        ]


CSV_HEADER = ["kind", "stripe_id", "customer_id", "salesforce_id", "expected", "actual", "fixable"]


@dataclass(frozen=True)
class DailyTotal:
    day: str
    currency: str
    stripe: Decimal
    salesforce: Decimal

    @property
    def difference(self) -> Decimal:
        return self.salesforce - self.stripe


@dataclass
class StripeSide:
    """Stripe objects as plain dicts (from the list endpoints; customers with their default
    payment method expanded). `deleted_customers` / `unknown_customers`: ids of customers
    linked to an Account but absent from the list, which Stripe answers `deleted: true` / 404
    for (read one by one: see `unlisted_customers`)."""

    customers: list[Mapping[str, Any]] = field(default_factory=list)
    subscriptions: list[Mapping[str, Any]] = field(default_factory=list)
    charges: list[Mapping[str, Any]] = field(default_factory=list)
    invoices: list[Mapping[str, Any]] = field(default_factory=list)
    disputes: list[Mapping[str, Any]] = field(default_factory=list)
    deleted_customers: list[str] = field(default_factory=list)
    unknown_customers: list[str] = field(default_factory=list)


@dataclass
class SalesforceSide:
    """SOQL rows: Accounts linked to a customer, payment records, dunning Tasks/Cases,
    review Tasks, Contacts linked to a customer and dispute Cases (each row a dict with the
    queried fields)."""

    accounts: list[Mapping[str, Any]] = field(default_factory=list)
    payments: list[Mapping[str, Any]] = field(default_factory=list)
    dunning: list[Mapping[str, Any]] = field(default_factory=list)
    reviews: list[Mapping[str, Any]] = field(default_factory=list)
    contacts: list[Mapping[str, Any]] = field(default_factory=list)
    disputes: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class DriftReport:
    items: list[Drift] = field(default_factory=list)
    totals: list[DailyTotal] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    at: str = ""

    @property
    def drift(self) -> list[Drift]:
        return [d for d in self.items if d.is_drift]

    @property
    def clean(self) -> bool:
        return not self.drift

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.items:
            out[d.kind] = out.get(d.kind, 0) + 1
        return out

    def fixable(self) -> list[Drift]:
        return [d for d in self.drift if d.fixable]

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for d in self.items:
            writer.writerow(d.to_row())
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "clean": self.clean,
            "drift": len(self.drift),
            "counts": self.counts(),
            "checked": dict(self.checked),
        }

    def to_html(self) -> str:
        return render_html(self)


# ---- field names from the mapping ---------------------------------------------------------------


def _target(config: SyncConfig, source: str, sobject: str, default: str) -> str:
    return _mapped(config, source, sobject) or default


def _mapped(config: SyncConfig, source: str, sobject: str) -> str | None:
    """The field `source` is mapped to on `sobject`, or None when it is not mapped."""
    for m in config.effective_mappings:
        if m.source == source and m.target_object == sobject:
            return m.target_field
    return None


@dataclass(frozen=True)
class Fields:
    customer_id: str
    subscription_status: str
    payment_object: str
    payment_key: str
    amount: str
    currency: str
    paid_at: str
    payment_status: str
    dedupe_key: str
    amount_refunded: str | None = None  # None: not mapped, not checked
    deleted: str | None = None
    card: tuple[str, ...] = ()  # Account fields mapped from payment_method.*
    record_currency: str | None = None  # CurrencyIsoCode in a multi-currency org it writes

    @classmethod
    def of(cls, config: SyncConfig) -> Fields:
        o = config.objects
        pay = o.payment_object
        card = tuple(
            dict.fromkeys(
                m.target_field
                for m in config.effective_mappings
                if m.source.startswith("payment_method.") and m.target_object == "Account"
            )
        )
        return cls(
            customer_id=o.customer_id_field,
            subscription_status=o.subscription_status_field,
            payment_object=pay,
            payment_key=o.payment_key_field,
            amount=_target(config, "charge.amount", pay, "Amount__c"),
            currency=_target(config, "charge.currency", pay, "Currency__c"),
            paid_at=_target(config, "charge.created", pay, "Paid_At__c"),
            payment_status=_target(config, "charge.status", pay, "Status__c"),
            dedupe_key=o.dedupe_key_field,
            amount_refunded=_mapped(config, "charge.amount_refunded", pay),
            deleted=_mapped(config, "customer.deleted", "Account"),
            card=card,
            record_currency=(
                CURRENCY_FIELD
                if config.multi_currency and config.can_write(pay, CURRENCY_FIELD, creating=True)
                else None
            ),
        )


def _select(*names: str | None) -> str:
    return ", ".join(dict.fromkeys(n for n in names if n))


def soql_queries(config: SyncConfig) -> dict[str, str]:
    """The Salesforce reads a reconciliation needs (one paginated query each)."""
    f = Fields.of(config)
    dunning = config.dunning_object()
    queries = {
        "accounts": (
            f"SELECT {_select('Id', f.customer_id, f.subscription_status, f.deleted, *f.card)} "
            f"FROM Account WHERE {f.customer_id} != null"
        ),
        "payments": (
            f"SELECT {_select('Id', f.payment_key, f.amount, f.currency, f.paid_at)}, "
            f"{_select(f.payment_status, f.amount_refunded, f.record_currency)} "
            f"FROM {f.payment_object}"
        ),
        "dunning": (
            f"SELECT Id, {f.dedupe_key}, Status, IsClosed FROM {dunning} "
            f"WHERE {f.dedupe_key} LIKE 'in\\_%'"
        ),
        # the review queue (review:<customer>) and duplicate-Contact reviews
        "reviews": (
            f"SELECT Id, {f.dedupe_key}, IsClosed FROM Task WHERE {f.dedupe_key} LIKE 'review%'"
        ),
        "contacts": (
            f"SELECT Id, Email, {f.customer_id} FROM Contact WHERE {f.customer_id} != null"
        ),
    }
    if config.disputes.enabled:
        queries["disputes"] = (
            f"SELECT Id, {f.dedupe_key} FROM Case WHERE {f.dedupe_key} LIKE 'dispute:%'"
        )
    return queries


# ---- the diff ---------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).strftime("%Y-%m-%d")


def _sf_day(value: Any) -> str | None:
    parsed = parse_sf_datetime(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d") if parsed else None


def expected_status(subs: Sequence[Mapping[str, Any]], config: SyncConfig) -> str | None:
    """The Account's subscription status field as the planner would write it."""
    summary = summarize((subscription_view(s) for s in subs), config.subscriptions.status_order)
    if summary is None:
        return None
    values = subscription_sources(
        summary.primary, product_names={}, status=summary.status, mrr=summary.mrr
    )
    fields = mapped_fields(config, "subscription", "Account", values, creating=False)
    value = fields.get(config.objects.subscription_status_field)
    return str(value) if value is not None else None


def _check_accounts(
    report: DriftReport, stripe: StripeSide, sf: SalesforceSide, f: Fields
) -> dict[str, Mapping[str, Any]]:
    by_customer: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sf.accounts:
        cid = as_str(row.get(f.customer_id))
        if cid:
            by_customer[cid].append(row)
    in_review = {
        str(r.get(f.dedupe_key) or "").removeprefix("review:")
        for r in sf.reviews
        if str(r.get(f.dedupe_key) or "").startswith("review:")
    }
    linked: dict[str, Mapping[str, Any]] = {}
    for cust in stripe.customers:
        cid = str(cust.get("id"))
        rows = by_customer.get(cid, [])
        if len(rows) == 1:
            linked[cid] = rows[0]
        elif not rows and cid in in_review:
            report.items.append(
                Drift("in_review", cid, cid, None, "one linked Account", "waiting for review")
            )
        elif not rows:
            report.items.append(
                Drift(
                    "account_missing",
                    cid,
                    cid,
                    None,
                    "one linked Account",
                    "none",
                    fix_object=f"customers:{cid}",
                )
            )
        else:
            ids = ", ".join(str(r.get("Id")) for r in rows)
            report.items.append(
                Drift("account_duplicated", cid, cid, ids, "one linked Account", f"{len(rows)}")
            )
    report.checked["customers"] = len(stripe.customers)
    return linked


def _check_subscriptions(
    report: DriftReport,
    stripe: StripeSide,
    linked: Mapping[str, Mapping[str, Any]],
    f: Fields,
    config: SyncConfig,
) -> None:
    by_customer: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for sub in stripe.subscriptions:
        view = subscription_view(sub)
        if view.customer_id:
            by_customer[view.customer_id].append(sub)
    for cid, subs in sorted(by_customer.items()):
        account = linked.get(cid)
        if account is None:
            continue  # reported as an Account problem
        expected = expected_status(subs, config)
        actual = as_str(account.get(f.subscription_status))
        if expected is not None and expected != actual:
            newest = max(subs, key=lambda s: (int(s.get("created") or 0), str(s.get("id"))))
            report.items.append(
                Drift(
                    "subscription_status",
                    str(newest.get("id")),
                    cid,
                    str(account.get("Id")),
                    expected,
                    actual or "(empty)",
                    fix_object=f"subscriptions:{newest.get('id')}",
                )
            )
    report.checked["customers with subscriptions"] = len(by_customer)


def _money(value: Any, currency: str) -> Decimal | None:
    """A Salesforce amount at the currency's precision (None when empty or not a number)."""
    amount = _decimal(value)
    if amount is None or not currency:
        return amount
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency.lower())))


def _shown(value: Any) -> str:
    return "(empty)" if value is None or value == "" else str(value)


def _same(expected: Any, actual: Any) -> bool:
    """One field's planned value against what Salesforce answered (numbers as numbers)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected) == (actual is True or str(actual).lower() == "true")
    if isinstance(expected, int | float | Decimal):
        got = _decimal(actual)
        return got is not None and got == Decimal(str(expected))
    return as_str(expected) == as_str(actual)


def expected_payment(charge: Mapping[str, Any], config: SyncConfig) -> dict[str, Any]:
    """The payment record's fields as the planner writes them for this charge's state."""
    view = charge_view(charge)
    return mapped_fields(
        config, "charge", config.objects.payment_object, charge_sources(view, charge), creating=True
    )


def _check_payments(
    report: DriftReport, stripe: StripeSide, sf: SalesforceSide, f: Fields, config: SyncConfig
) -> None:
    payments: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for payment in sf.payments:
        charge_id = as_str(payment.get(f.payment_key))
        if charge_id:
            payments[charge_id].append(payment)
    stripe_totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    sf_totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    counted: dict[str, int] = defaultdict(int)

    def add(
        kind: DriftKind,
        charge: ChargeView,
        row: Mapping[str, Any] | None,
        expected: str,
        actual: str,
    ) -> None:
        report.items.append(
            Drift(
                kind,
                charge.id,
                charge.customer_id,
                str(row.get("Id")) if row is not None else None,
                expected,
                actual,
                fix_object=f"charges:{charge.id}",
            )
        )

    for raw in stripe.charges:
        charge: ChargeView = charge_view(raw)
        if charge.status not in CHECKED_CHARGE_STATUSES:
            continue  # pending: the planner writes nothing yet
        counted[charge.status] += 1
        succeeded = charge.status == "succeeded"
        amount = to_major_units(charge.amount, charge.currency)
        currency = charge.currency.upper()
        day = _day(charge.created)
        if succeeded:
            stripe_totals[(day, currency)] += amount

        rows = payments.get(charge.id, [])
        if not rows:
            add(
                "payment_missing",
                charge,
                None,
                f"{amount} {currency} {charge.payment_status}",
                "none",
            )
            continue
        if len(rows) > 1:
            report.items.append(
                Drift(
                    "payment_duplicated",
                    charge.id,
                    charge.customer_id,
                    ", ".join(str(r.get("Id")) for r in rows),
                    "one payment record",
                    f"{len(rows)}",
                )
            )
        row = rows[0]
        got_currency = (as_str(row.get(f.currency)) or "").upper()
        got_amount = _money(row.get(f.amount), got_currency)
        if succeeded and got_amount is not None and got_currency:
            sf_totals[(_sf_day(row.get(f.paid_at)) or day, got_currency)] += got_amount
        if got_amount != amount or got_currency != currency:
            add(
                "payment_mismatch",
                charge,
                row,
                f"{amount} {currency}",
                f"{_shown(got_amount)} {got_currency or '(empty)'}",
            )
        planned = expected_payment(raw, config)
        if f.record_currency:  # its amounts are read in its CurrencyIsoCode: it must be theirs
            want = planned.get(f.record_currency)
            got = (as_str(row.get(f.record_currency)) or "").upper()
            if want is not None and got != want:
                add(
                    "payment_mismatch",
                    charge,
                    row,
                    f"{f.record_currency} {want}",
                    f"{f.record_currency} {got or '(empty)'}",
                )
        status = planned.get(f.payment_status)
        if status is not None and not _same(status, row.get(f.payment_status)):
            add("payment_status", charge, row, str(status), _shown(row.get(f.payment_status)))
        if f.amount_refunded:
            refunded = planned.get(f.amount_refunded)
            got_refunded = _money(row.get(f.amount_refunded), currency)
            if refunded is not None and (got_refunded or Decimal(0)) != refunded:
                add(
                    "payment_refunded",
                    charge,
                    row,
                    f"{refunded} {currency}",
                    f"{_shown(got_refunded)} {currency}",
                )
    for day_currency in sorted(set(stripe_totals) | set(sf_totals)):
        total = DailyTotal(
            day_currency[0],
            day_currency[1],
            stripe_totals.get(day_currency, Decimal(0)),
            sf_totals.get(day_currency, Decimal(0)),
        )
        report.totals.append(total)
        if total.difference != 0:
            report.items.append(
                Drift(
                    "daily_total",
                    f"{total.day} {total.currency}",
                    None,
                    None,
                    f"{total.stripe}",
                    f"{total.salesforce}",
                )
            )
    report.checked["succeeded charges"] = counted["succeeded"]
    report.checked["failed charges"] = counted["failed"]


def _check_disputes(
    report: DriftReport, stripe: StripeSide, sf: SalesforceSide, f: Fields, config: SyncConfig
) -> None:
    if not config.disputes.enabled:
        return
    cases = {str(r.get(f.dedupe_key) or "") for r in sf.disputes}
    customer_of = {
        str(c.get("id")): charge_view(c).customer_id for c in stripe.charges if c.get("id")
    }
    for raw in stripe.disputes:
        d = dispute_view(raw)
        if d.status in CLOSED_DISPUTE_STATUSES:
            continue
        if f"dispute:{d.id}" not in cases:
            report.items.append(
                Drift(
                    "dispute_missing",
                    d.id,
                    customer_of.get(d.charge_id or ""),
                    None,
                    f"a Case for the dispute on {d.charge_id or '-'}",
                    "none",
                    fix_object=f"disputes:{d.id}",
                )
            )
    report.checked["disputes"] = len(stripe.disputes)


def _check_cards(
    report: DriftReport,
    stripe: StripeSide,
    linked: Mapping[str, Mapping[str, Any]],
    f: Fields,
    config: SyncConfig,
) -> None:
    if not f.card:
        return
    checked = 0
    for cust in stripe.customers:
        cid = str(cust.get("id"))
        account, raw = linked.get(cid), expanded_default_card(cust)
        if account is None or raw is None:
            continue
        pm = payment_method_view(raw)
        if pm.type != "card" or not pm.card.last4:
            continue  # the planner shows cards only
        checked += 1
        planned = mapped_fields(
            config, "payment_method", "Account", payment_method_sources(pm), creating=False
        )
        wrong = [n for n in f.card if n in planned and not _same(planned[n], account.get(n))]
        if wrong:
            report.items.append(
                Drift(
                    "card_on_file",
                    pm.id,
                    cid,
                    str(account.get("Id")),
                    " ".join(f"{n}={planned[n]}" for n in wrong),
                    " ".join(f"{n}={_shown(account.get(n))}" for n in wrong),
                    fix_object=f"payment_methods:{pm.id}",
                )
            )
    report.checked["customers with a card"] = checked


def unlisted_customers(stripe: StripeSide, sf: SalesforceSide, config: SyncConfig) -> list[str]:
    """Customer ids linked to an Account but absent from Stripe's customer list (which leaves
    deleted customers out) and not already marked deleted: the ones to read one by one."""
    f = Fields.of(config)
    listed = {str(c.get("id")) for c in stripe.customers}
    out: dict[str, None] = {}
    for row in sf.accounts:
        cid = as_str(row.get(f.customer_id))
        if not cid or cid in listed:
            continue
        if f.deleted and _same(True, row.get(f.deleted)):
            continue
        out[cid] = None
    return sorted(out)


def _check_deleted(report: DriftReport, stripe: StripeSide, sf: SalesforceSide, f: Fields) -> None:
    rows: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sf.accounts:
        cid = as_str(row.get(f.customer_id))
        if cid:
            rows[cid].append(row)
    if f.deleted:
        for cid in sorted(set(stripe.deleted_customers)):
            for row in rows.get(cid, []):
                if not _same(True, row.get(f.deleted)):
                    report.items.append(
                        Drift(
                            "customer_deleted",
                            cid,
                            cid,
                            str(row.get("Id")),
                            f"{f.deleted} = true",
                            _shown(row.get(f.deleted)),
                            fix_object=f"deleted_customers:{cid}",
                        )
                    )
        report.checked["deleted customers"] = len(set(stripe.deleted_customers))
    for cid in sorted(set(stripe.unknown_customers)):
        for row in rows.get(cid, []):
            report.items.append(
                Drift(
                    "account_orphaned",
                    cid,
                    cid,
                    str(row.get("Id")),
                    "a customer Stripe knows",
                    "Stripe answers 404",
                )
            )


def contact_review_key(email: str) -> str:
    """The dedupe key of the review Task for duplicate Contacts of `email` (hashed: an email
    can be longer than the key field's 255 characters)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"{CONTACT_REVIEW_PREFIX}{digest}"


def _check_contacts(report: DriftReport, sf: SalesforceSide, f: Fields) -> None:
    by_email: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sf.contacts:
        email = (as_str(row.get("Email")) or "").strip().lower()
        if email and as_str(row.get(f.customer_id)):
            by_email[email].append(row)
    tasks = {str(r.get(f.dedupe_key) or ""): r for r in sf.reviews}
    for email, rows in sorted(by_email.items()):
        if len(rows) < 2:
            continue
        key = contact_review_key(email)
        task = tasks.get(key)
        customers = ", ".join(sorted({str(r.get(f.customer_id)) for r in rows}))
        actual = f"{len(rows)} Contacts (customers {customers})"
        if task is not None:
            closed = _same(True, task.get("IsClosed"))
            actual += f"; review Task {task.get('Id')} {'closed' if closed else 'open'}"
        report.items.append(
            Drift(
                "contact_duplicated",
                email,
                customers,
                ", ".join(sorted(str(r.get("Id")) for r in rows)),
                "one Contact linked by the sync: merge them in Salesforce",
                actual,
                review_key=None if task is not None else key,
            )
        )
    report.checked["emails of linked Contacts"] = len(by_email)


def review_plan(report: DriftReport, config: SyncConfig) -> Plan | None:
    """One review Task per email with duplicate Contacts that has none yet (`--fix`): the
    Contacts are never merged or deleted automatically (see the module docstring)."""
    ops: list[Operation] = []
    for d in report.drift:
        if d.kind != "contact_duplicated" or d.review_key is None:
            continue
        fields: dict[str, Any] = {
            "Subject": f"Review duplicate Contacts for {d.stripe_id}",
            "Description": (
                f"Contacts {d.salesforce_id} share the email {d.stripe_id} and are each linked "
                f"to a Stripe customer ({d.customer_id}). Merge them in Salesforce (Merge "
                "Contacts), keeping the Contact whose relationships matter; stripe2sf never "
                "deletes or merges Contacts itself. `stripe2sf reconcile` lists them until then."
            ),
            "Priority": "Normal",
            "Status": "Not Started",
        }
        if config.matching.review_owner_id:
            fields["OwnerId"] = config.matching.review_owner_id
        ops.append(
            Operation(
                f"review{len(ops)}",
                "upsert",
                "Task",
                config.objects.dedupe_key_field,
                d.review_key,
                fields,
                reason=f"duplicate Contacts for {d.stripe_id}: review by a person",
            )
        )
    if not ops:
        return None
    return Plan("reconcile:contacts", "reconcile.duplicate_contacts", tuple(ops))


def _check_dunning(report: DriftReport, stripe: StripeSide, sf: SalesforceSide, f: Fields) -> None:
    open_by_invoice: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sf.dunning:
        key = str(row.get(f.dedupe_key) or "")
        if not key.startswith("in_") or ":" not in key:
            continue
        closed = row.get("IsClosed")
        if closed is True or str(closed).lower() == "true":
            continue
        open_by_invoice[key.split(":", 1)[0]].append(row)
    invoices: dict[str, Mapping[str, Any]] = {str(i.get("id")): i for i in stripe.invoices}
    views = {inv_id: invoice_view(inv) for inv_id, inv in invoices.items()}
    for inv_id, view in sorted(views.items()):
        if unpaid_failed(view) and not open_by_invoice.get(inv_id):
            report.items.append(
                Drift(
                    "dunning_missing",
                    inv_id,
                    view.customer_id,
                    None,
                    f"open Task/Case for attempt {max(1, view.attempt_count)}",
                    "none open",
                    fix_object=f"invoices:{inv_id}",
                )
            )
    for inv_id, rows in sorted(open_by_invoice.items()):
        inv = invoices.get(inv_id)
        if inv is None:
            continue  # outside the compared history
        view = views[inv_id]
        if view.paid or str(inv.get("status")) == "void":
            for row in rows:
                report.items.append(
                    Drift(
                        "dunning_stale",
                        inv_id,
                        view.customer_id,
                        str(row.get("Id")),
                        "closed (invoice is " + str(inv.get("status")) + ")",
                        f"open ({row.get('Status')})",
                        fix_object=f"invoices:{inv_id}" if view.paid else None,
                    )
                )
    report.checked["invoices"] = len(invoices)


def diff(
    stripe: StripeSide, sf: SalesforceSide, config: SyncConfig, *, at: str = ""
) -> DriftReport:
    """Every difference between the two sides, in a stable order."""
    f = Fields.of(config)
    report = DriftReport(at=at)
    linked = _check_accounts(report, stripe, sf, f)
    _check_subscriptions(report, stripe, linked, f, config)
    _check_cards(report, stripe, linked, f, config)
    _check_deleted(report, stripe, sf, f)
    _check_contacts(report, sf, f)
    _check_payments(report, stripe, sf, f, config)
    _check_disputes(report, stripe, sf, f, config)
    _check_dunning(report, stripe, sf, f)
    return report


# The events a repair plans for the objects the backfill does not read (the others are planned
# as the backfill plans them: `synthetic_event`).
_FIX_EVENT_TYPES: Mapping[str, str] = {
    "deleted_customers": "customer.deleted",
    "payment_methods": "payment_method.updated",
    "disputes": "charge.dispute.created",
}
# The Stripe object type `--fix` reads again for each phase.
FIX_OBJECT_TYPES: Mapping[str, str] = {
    "customers": "customer",
    "deleted_customers": "customer",
    "subscriptions": "subscription",
    "payment_methods": "payment_method",
    "charges": "charge",
    "disputes": "dispute",
    "invoices": "invoice",
}


def fix_event(phase: str, obj: Mapping[str, Any], as_of: int) -> dict[str, Any] | None:
    """The event envelope `--fix` plans for the object's current state (read again from
    Stripe), or None when its state gives nothing to sync. Created `as_of` the repair, so the
    sync ledger lets it overwrite the drifted record."""
    etype = _FIX_EVENT_TYPES.get(phase)
    if etype is None:
        return synthetic_event(phase, obj, as_of)
    if phase == "deleted_customers" and not obj.get("deleted"):
        return None  # not deleted after all: nothing to mark
    return envelope("reconcile", etype, obj, as_of)


# ---- rendering ---------------------------------------------------------------------------------


def table_rows(report: DriftReport) -> Iterable[list[str]]:
    for d in report.items:
        yield d.to_row()


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2433}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d5dd;padding:.3rem .6rem;text-align:left}
th{background:#f2f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#067647;font-weight:600}.bad{color:#b42318;font-weight:600}
tr.diff td{background:#fef3f2}
"""


def render_html(report: DriftReport) -> str:
    """A self-contained page for finance: verdict, counts, totals per day, every item."""
    e = html.escape
    verdict = (
        '<p class="ok">No drift: Stripe and Salesforce agree.</p>'
        if report.clean
        else f'<p class="bad">{len(report.drift)} difference(s) found.</p>'
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>stripe2sf reconciliation</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Stripe &harr; Salesforce reconciliation</h1>",
        f"<p>Run at {e(report.at)}</p>",
        verdict,
        "<h2>Checked</h2><table><tr><th>what</th><th>count</th></tr>",
    ]
    for name, n in report.checked.items():
        parts.append(f"<tr><td>{e(name)}</td><td class='num'>{n}</td></tr>")
    parts.append("</table><h2>Differences by kind</h2><table><tr><th>kind</th><th>count</th></tr>")
    for kind, n in sorted(report.counts().items()):
        parts.append(f"<tr><td>{e(KIND_TITLES.get(kind, kind))}</td><td class='num'>{n}</td></tr>")
    parts.append(
        "</table><h2>Payment totals per day and currency</h2><table><tr><th>day</th>"
        "<th>currency</th><th>Stripe</th><th>Salesforce</th><th>difference</th></tr>"
    )
    for t in report.totals:
        cls = " class='diff'" if t.difference != 0 else ""
        parts.append(
            f"<tr{cls}><td>{e(t.day)}</td><td>{e(t.currency)}</td><td class='num'>{t.stripe}</td>"
            f"<td class='num'>{t.salesforce}</td><td class='num'>{t.difference}</td></tr>"
        )
    parts.append("</table><h2>Items</h2><table><tr>")
    parts.extend(f"<th>{e(h)}</th>" for h in CSV_HEADER)
    parts.append("</tr>")
    for row in table_rows(report):
        parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    parts.append("</table></body></html>\n")
    return "".join(parts)
