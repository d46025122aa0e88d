"""Reconciliation, pure: what Stripe says against what Salesforce holds, as a drift report.

Checks (each drift item names its kind, the Stripe object, the Salesforce record, what was
expected and what was found, and whether `--fix` can repair it through the planner):

- `account_missing` / `account_duplicated`: every Stripe customer is linked to exactly one
  Account (customers waiting in the review queue are listed as `in_review`, not drift);
- `subscription_status`: the Account shows the status the subscription rule gives;
- `payment_missing` / `payment_mismatch`: every succeeded charge has its payment record, with
  the same amount (in the currency's major unit) and currency;
- `daily_total`: payment totals per day (UTC) and currency agree (a consequence of the
  payment checks, shown because it is what finance compares);
- `dunning_missing` / `dunning_stale`: an open Task/Case for every unpaid invoice whose
  payment failed, and none for a paid one.

    report = diff(stripe_side, salesforce_side, config)
    report.to_csv(); report.to_html(); report.counts()
"""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from stripe2sf.domain.backfill_plan import unpaid_failed
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import parse_sf_datetime
from stripe2sf.domain.money import currency_exponent, to_major_units
from stripe2sf.domain.paths import as_str
from stripe2sf.domain.sources import mapped_fields, subscription_sources
from stripe2sf.domain.stripe_views import (
    ChargeView,
    charge_view,
    invoice_view,
    subscription_view,
)
from stripe2sf.domain.subscription_summary import summarize

DriftKind = Literal[
    "account_missing",
    "account_duplicated",
    "subscription_status",
    "payment_missing",
    "payment_mismatch",
    "daily_total",
    "dunning_missing",
    "dunning_stale",
    "in_review",
]
KIND_TITLES: Mapping[str, str] = {
    "account_missing": "Stripe customer not linked to any Account",
    "account_duplicated": "Stripe customer linked to several Accounts",
    "subscription_status": "Account subscription status differs from Stripe",
    "payment_missing": "Succeeded charge without a payment record",
    "payment_mismatch": "Payment record with another amount or currency",
    "daily_total": "Payment totals per day and currency differ",
    "dunning_missing": "Unpaid failed invoice without an open Task/Case",
    "dunning_stale": "Open Task/Case for an invoice that is not owed any more",
    "in_review": "Customer waiting in the review queue (ambiguous match)",
}
# Which Stripe object and synthetic event repair an item (see engine.reconcile).
INFORMATIONAL = frozenset({"in_review", "daily_total"})
NOT_FIXABLE = frozenset({"account_duplicated"}) | INFORMATIONAL


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    stripe_id: str
    customer_id: str | None
    salesforce_id: str | None
    expected: str
    actual: str
    fix_object: str | None = None  # "<phase>:<stripe id>" to plan again, when fixable

    @property
    def fixable(self) -> bool:
        return self.kind not in NOT_FIXABLE and self.fix_object is not None

    @property
    def is_drift(self) -> bool:
        return self.kind != "in_review"

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
    """Stripe objects as plain dicts (from the list endpoints)."""

    customers: list[Mapping[str, Any]] = field(default_factory=list)
    subscriptions: list[Mapping[str, Any]] = field(default_factory=list)
    charges: list[Mapping[str, Any]] = field(default_factory=list)
    invoices: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class SalesforceSide:
    """SOQL rows: Accounts linked to a customer, payment records, dunning Tasks/Cases and
    review Tasks (each row a dict with the queried fields)."""

    accounts: list[Mapping[str, Any]] = field(default_factory=list)
    payments: list[Mapping[str, Any]] = field(default_factory=list)
    dunning: list[Mapping[str, Any]] = field(default_factory=list)
    reviews: list[Mapping[str, Any]] = field(default_factory=list)


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
    for m in config.effective_mappings:
        if m.source == source and m.target_object == sobject:
            return m.target_field
    return default


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

    @classmethod
    def of(cls, config: SyncConfig) -> Fields:
        o = config.objects
        pay = o.payment_object
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
        )


def soql_queries(config: SyncConfig) -> dict[str, str]:
    """The Salesforce reads a reconciliation needs (one paginated query each)."""
    f = Fields.of(config)
    dunning = config.dunning_object()
    return {
        "accounts": (
            f"SELECT Id, {f.customer_id}, {f.subscription_status} FROM Account "
            f"WHERE {f.customer_id} != null"
        ),
        "payments": (
            f"SELECT Id, {f.payment_key}, {f.amount}, {f.currency}, {f.paid_at}, "
            f"{f.payment_status} FROM {f.payment_object}"
        ),
        "dunning": (
            f"SELECT Id, {f.dedupe_key}, Status, IsClosed FROM {dunning} "
            f"WHERE {f.dedupe_key} LIKE 'in\\_%'"
        ),
        "reviews": f"SELECT Id, {f.dedupe_key} FROM Task WHERE {f.dedupe_key} LIKE 'review:%'",
    }


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


def _check_payments(report: DriftReport, stripe: StripeSide, sf: SalesforceSide, f: Fields) -> None:
    payments: dict[str, Mapping[str, Any]] = {}
    for payment in sf.payments:
        charge_id = as_str(payment.get(f.payment_key))
        if charge_id:
            payments[charge_id] = payment
    stripe_totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    sf_totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    succeeded: list[ChargeView] = [
        c for c in (charge_view(ch) for ch in stripe.charges) if c.status == "succeeded"
    ]
    for charge in succeeded:
        amount = to_major_units(charge.amount, charge.currency)
        currency = charge.currency.upper()
        day = _day(charge.created)
        stripe_totals[(day, currency)] += amount
        row = payments.get(charge.id)
        expected = f"{amount} {currency}"
        if row is None:
            report.items.append(
                Drift(
                    "payment_missing",
                    charge.id,
                    charge.customer_id,
                    None,
                    expected,
                    "none",
                    fix_object=f"charges:{charge.id}",
                )
            )
            continue
        got_currency = (as_str(row.get(f.currency)) or "").upper()
        got_amount = _decimal(row.get(f.amount))
        if got_amount is not None and got_currency:
            step = Decimal(1).scaleb(-currency_exponent(got_currency.lower()))
            got_amount = got_amount.quantize(step)
        got_day = _sf_day(row.get(f.paid_at)) or day
        if got_amount is not None and got_currency:
            sf_totals[(got_day, got_currency)] += got_amount
        if got_amount != amount or got_currency != currency:
            report.items.append(
                Drift(
                    "payment_mismatch",
                    charge.id,
                    charge.customer_id,
                    str(row.get("Id")),
                    expected,
                    f"{got_amount if got_amount is not None else '(empty)'} "
                    f"{got_currency or '(empty)'}",
                    fix_object=f"charges:{charge.id}",
                )
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
    report.checked["succeeded charges"] = len(succeeded)


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
    _check_payments(report, stripe, sf, f)
    _check_dunning(report, stripe, sf, f)
    return report


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
