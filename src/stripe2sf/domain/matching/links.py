"""Links: which Salesforce Account and Contact a Stripe customer has, remembered (pure part).

stripe2sf learns them from its own writes (an upsert by the customer id answers the record's
Id; a link update names it) and from its lookups, and keeps them in the database
(`store.links`), so the next event of a linked customer is planned without reading Salesforce.
Only a complete link (both Ids) answers the lookups: a customer without a Contact is read, as
its next event may give it one. A write answered "that Id is gone" (deleted or merged away in
Salesforce) drops the link and the event is planned again from fresh reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.context import FieldNames, LookupKind, PlanContext
from stripe2sf.domain.flows.handled import Flow, flow_of
from stripe2sf.domain.operations import Operation

# What Salesforce answers for a write naming an Id that no longer is a live record.
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})


@dataclass(frozen=True)
class Link:
    account_id: str | None = None
    contact_id: str | None = None
    account_owner_id: str | None = None

    @property
    def complete(self) -> bool:
        return bool(self.account_id and self.contact_id)

    def over(self, older: Link | None) -> Link:
        """This link's known values over an older one's."""
        if older is None:
            return self
        return Link(
            self.account_id or older.account_id,
            self.contact_id or older.contact_id,
            self.account_owner_id or older.account_owner_id,
        )


# Flows that read the Account itself, not only its Id: whom a Task goes to (the Account's owner,
# who may have changed in Salesforce) and its billing status. Rare events: they read it.
_READS_ACCOUNT = frozenset({Flow.INVOICE_FAILED, Flow.INVOICE_PAID, Flow.DISPUTE})


def may_use_link(event_type: str) -> bool:
    """Whether an event of this type may be planned from a remembered link."""
    return flow_of(event_type) not in _READS_ACCOUNT


def rows_for(customer_id: str, link: Link, names: FieldNames) -> tuple[dict[str, Any], ...]:
    """The (Account row, Contact row) a complete link stands for, as SOQL would answer them
    (only the fields the planner reads of a linked customer)."""
    account = {
        "Id": link.account_id,
        "OwnerId": link.account_owner_id,
        names.customer_id: customer_id,
    }
    contact = {
        "Id": link.contact_id,
        "AccountId": link.account_id,
        names.customer_id: customer_id,
        "Account": {names.customer_id: customer_id},
    }
    return account, contact


def learned(
    customer_id: str | None,
    ctx: PlanContext,
    operations: Sequence[Operation],
    outcomes: Mapping[str, OpOutcome],
    names: FieldNames,
) -> Link | None:
    """What an applied event taught about its customer's records: its lookups (one Account
    and one Contact linked) and its successful writes (their Ids)."""
    if not customer_id:
        return None
    account_id = contact_id = owner = None
    accounts = ctx.get(LookupKind.SF_ACCOUNT_BY_CUSTOMER, customer_id)
    contacts = ctx.get(LookupKind.SF_CONTACT_BY_CUSTOMER, customer_id)
    if accounts is not None and len(accounts) == 1:
        account_id, owner = accounts[0].id, accounts[0].owner_id
    if contacts is not None and len(contacts) == 1:
        contact_id = contacts[0].id
    for op in operations:
        outcome = outcomes.get(op.op_id)
        if outcome is None or not outcome.ok or op.sobject not in ("Account", "Contact"):
            continue
        if op.key_field == names.customer_id and op.key_value == customer_id:
            record_id = outcome.record_id
        elif op.key_field == "Id" and op.fields.get(names.customer_id) == customer_id:
            record_id = op.key_value
        else:
            continue
        if not record_id:
            continue
        if op.sobject == "Account":
            # Only an Account we created has a known owner (us: Salesforce's default owner,
            # as the planner assumes without one); one linked by matching, or upserted but
            # already there, has someone's: read it once (its Tasks go to that owner).
            if outcome.created is True:
                account_id = account_id or record_id
        else:
            contact_id = contact_id or record_id
    if not (account_id or contact_id):
        return None
    return Link(account_id, contact_id, owner)


def gone(outcomes: Mapping[str, OpOutcome]) -> bool:
    """Whether Salesforce answered that a record named by Id is gone."""
    return any(not o.ok and o.code in GONE_CODES for o in outcomes.values())


def stale(outcomes: Mapping[str, OpOutcome], permanent: bool) -> bool:
    """Whether a plan made from a remembered link failed in a way a stale link explains, so the
    link is dropped and the event planned again from fresh reads: Salesforce said an Id is gone
    (`gone`), or the failure is permanent. A deleted Account or Contact is not always answered
    as gone: an upsert by the customer id finds no live record and becomes an insert missing
    its required fields (REQUIRED_FIELD_MISSING), a reference by the customer id finds no
    Account (INVALID_FIELD "Foreign key external ID ... not found"). Reading again costs one
    query; a failure that recurs from fresh reads is final then (no link is used)."""
    return permanent or gone(outcomes)
