"""Duplicate rules: Salesforce refused to create a customer's Account or Contact because an
active duplicate rule found the record already there (``DUPLICATES_DETECTED``).

stripe2sf never answers that with ``allowSave`` (which would make the duplicate the rule is
there to prevent). The refused create becomes one of:

* a link: the rule matched exactly one record, stripe2sf read it and it belongs to no other
  Stripe customer: the record gets the customer's id (as a Contact found by email does), and
  the event's writes are planned again by that Id;
* a review item (the customer's review Task, as for several Contacts of one email): the rule
  matched several records, or one that is another customer's or cannot be read, or
  ``[matching] on_duplicate = "review"`` says so. Nothing is linked or created for that object.

Either way the audit trail keeps the refused create with the rule's name and what it matched.

How it flows (the engine does the I/O): a wave is sent; `refused_creates` finds the creates a
rule refused and reads `DuplicateReport`s from the answers (`report_from_errors`; sObject
Collections and Bulk answers carry no match, so the engine asks again with the single record
REST call, whose answer does); the event is hydrated again with the reports in its context
(``LookupKind.DUPLICATE``), which asks to read the matched records
(``LookupKind.SF_DUPLICATE_RECORDS``); `choice` decides and `matching.resolve` plans the link or
the review. A rule refusing again what was decided is a failure like any other (dead letter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from stripe2sf.domain import soql
from stripe2sf.domain.context import AccountRecord, ContactRecord, Lookup, LookupKind, PlanContext
from stripe2sf.domain.operations import Operation, Plan

CODE = "DUPLICATES_DETECTED"
SOBJECTS = ("Account", "Contact")
MAX_PASSES = 3  # the Account, then its Contact, then one more for a rule refusing a link


@dataclass(frozen=True)
class DuplicateReport:
    """What Salesforce said about a refused save: the duplicate rule(s), the matching
    rule(s) and the records matched (of the refused object, in the answer's order)."""

    sobject: str
    message: str
    rules: tuple[str, ...] = ()
    matching_rules: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    detailed: bool = False  # False: the answer named no match (Collections, Bulk)

    @property
    def rule_names(self) -> str:
        return ", ".join(self.rules) or "a duplicate rule"

    def describe(self) -> str:
        """One line for the audit trail and logs."""
        matched = f" matched {', '.join(self.record_ids)}" if self.record_ids else ""
        return f"duplicate rule {self.rule_names}{matched}: {self.message}"


def report_from_errors(errors: Any, sobject: str = "") -> DuplicateReport | None:
    """The report in a Salesforce error list (REST: ``errorCode`` with ``duplicateResult``;
    Collections: ``statusCode`` and message only), or None for another error. ``sobject``: the
    refused object when known (else the rule's ``duplicateRuleEntityType``)."""
    items = errors if isinstance(errors, list) else [errors]
    found = [
        i
        for i in items
        if isinstance(i, Mapping) and (i.get("errorCode") or i.get("statusCode")) == CODE
    ]
    if not found:
        return None
    if not sobject:
        sobject = next(
            (
                str(i["duplicateResult"].get("duplicateRuleEntityType") or "")
                for i in found
                if isinstance(i.get("duplicateResult"), Mapping)
            ),
            "",
        )
    rules: list[str] = []
    matching: list[str] = []
    ids: list[str] = []
    detailed = False
    for item in found:
        result = item.get("duplicateResult")
        if not isinstance(result, Mapping):
            continue
        detailed = True
        if result.get("duplicateRule"):
            rules.append(str(result["duplicateRule"]))
        for match in result.get("matchResults") or []:
            if not isinstance(match, Mapping) or match.get("entityType") not in (None, "", sobject):
                continue
            if match.get("rule"):
                matching.append(str(match["rule"]))
            for record in match.get("matchRecords") or []:
                inner = record.get("record") if isinstance(record, Mapping) else None
                if isinstance(inner, Mapping) and inner.get("Id"):
                    ids.append(str(inner["Id"]))
    message = str(found[0].get("message") or "duplicates detected")
    return DuplicateReport(
        sobject,
        message,
        tuple(dict.fromkeys(rules)),
        tuple(dict.fromkeys(matching)),
        tuple(dict.fromkeys(ids)),
        detailed,
    )


def report_from_bulk(error: str, sobject: str = "") -> DuplicateReport | None:
    """A Bulk API 2.0 ``sf__Error`` (``DUPLICATES_DETECTED:message:--``)."""
    if not error.startswith(CODE + ":"):
        return None
    message = error[len(CODE) + 1 :].rsplit(":", 1)[0] if ":" in error else error
    return DuplicateReport(sobject, message.strip() or "duplicates detected")


@dataclass(frozen=True)
class RefusedCreate:
    """A create of the customer's own Account or Contact (an upsert by its customer id) that a
    duplicate rule refused."""

    op: Operation
    report: DuplicateReport


def refused_creates(
    plan: Plan, outcomes: Mapping[str, Any], customer_field: str
) -> list[RefusedCreate]:
    """The plan's creates of its customer's records that duplicate rules refused (``outcomes``
    maps op ids to `OpOutcome`s)."""
    out = []
    for op in plan.operations:
        outcome = outcomes.get(op.op_id)
        report = getattr(outcome, "duplicates", None)
        if (
            isinstance(report, DuplicateReport)
            and op.sobject in SOBJECTS
            and op.action == "upsert"
            and op.key_field == customer_field
            and op.key_value == plan.customer_id
        ):
            out.append(RefusedCreate(op, replace(report, sobject=op.sobject)))
    return out


def key(sobject: str, customer_id: str) -> str:
    """The context key of a customer's report (and of the records it matched)."""
    return f"{sobject}:{customer_id}"


def seeded(ctx: PlanContext, reports: Iterable[DuplicateReport], customer_id: str) -> PlanContext:
    """``ctx`` knowing the reports (the engine's answer to a refused create)."""
    return ctx.with_results(
        {Lookup(LookupKind.DUPLICATE, key(r.sobject, customer_id)): r for r in reports}
    )


def report_for(ctx: PlanContext, sobject: str, customer_id: str) -> DuplicateReport | None:
    value = ctx.get(LookupKind.DUPLICATE, key(sobject, customer_id))
    return value if isinstance(value, DuplicateReport) else None


def lookups(
    ctx: PlanContext, customer_id: str, customer_field: str, billing_field: str, dedupe_field: str
) -> list[Lookup]:
    """What a customer with reports must read: the matched records (whose they are) and
    whether its review Task exists."""
    out = []
    for sobject in SOBJECTS:
        report = report_for(ctx, sobject, customer_id)
        if report is None:
            continue
        if report.record_ids:
            fields = (
                soql.account_fields(customer_field, billing_field)
                if sobject == "Account"
                else soql.contact_fields(customer_field)
            )
            ids = ", ".join(soql.quote(i) for i in report.record_ids[:50])
            out.append(
                Lookup(
                    LookupKind.SF_DUPLICATE_RECORDS,
                    key(sobject, customer_id),
                    f"SELECT {fields} FROM {sobject} WHERE Id IN ({ids})",
                )
            )
        out.append(
            Lookup(
                LookupKind.SF_REVIEW_TASK, customer_id, soql.review_task(dedupe_field, customer_id)
            )
        )
    return out


@dataclass(frozen=True)
class Choice:
    """What to do instead of the refused create."""

    kind: Literal["link", "review"]
    sobject: str
    reason: str
    account: AccountRecord | None = None
    contact: ContactRecord | None = None
    candidates: tuple[str, ...] = ()

    @property
    def record_id(self) -> str | None:
        record = self.account or self.contact
        return record.id if record is not None else None


def _owner(record: AccountRecord | ContactRecord, customer_id: str) -> str | None:
    """The other Stripe customer a matched record (or a Contact's Account) is linked to."""
    owners = [record.customer_id]
    if isinstance(record, ContactRecord):
        owners.append(record.account_customer_id)
    return next((o for o in owners if o is not None and o != customer_id), None)


def decide(
    customer_id: str,
    report: DuplicateReport,
    records: Sequence[AccountRecord | ContactRecord] | None,
    on_duplicate: str,
) -> Choice:
    """Link the one record the rule matched, or leave it to a person (pure)."""
    what = f"{report.sobject} create for {customer_id} refused by {report.describe()}"
    candidates = report.record_ids
    if on_duplicate == "review":
        return Choice(
            "review",
            report.sobject,
            f"{what}; [matching] on_duplicate = review",
            candidates=candidates,
        )
    if not candidates:
        return Choice(
            "review",
            report.sobject,
            f"{what}; Salesforce named no matching record",
            candidates=candidates,
        )
    if len(candidates) > 1:
        return Choice(
            "review",
            report.sobject,
            f"{what}; {len(candidates)} records match, a person must choose",
            candidates=candidates,
        )
    found = [r for r in records or () if r.id[:15] == candidates[0][:15]]
    if not found:
        return Choice(
            "review",
            report.sobject,
            f"{what}; the matched record could not be read (deleted, or not visible to "
            "stripe2sf's user)",
            candidates=candidates,
        )
    record = found[0]
    other = _owner(record, customer_id)
    if other is not None:
        return Choice(
            "review",
            report.sobject,
            f"{what}; the matched record belongs to Stripe customer {other}",
            candidates=candidates,
        )
    linked = f"link: {record.id} is the record {report.rule_names} matched for {customer_id}"
    if isinstance(record, AccountRecord):
        return Choice("link", report.sobject, linked, account=record, candidates=candidates)
    return Choice("link", report.sobject, linked, contact=record, candidates=candidates)


def choice(ctx: PlanContext, sobject: str, customer_id: str, on_duplicate: str) -> Choice | None:
    """The decision for a customer's refused create of ``sobject`` (None: none refused)."""
    report = report_for(ctx, sobject, customer_id)
    if report is None:
        return None
    records = ctx.get(LookupKind.SF_DUPLICATE_RECORDS, key(sobject, customer_id))
    return decide(customer_id, report, records, on_duplicate)
