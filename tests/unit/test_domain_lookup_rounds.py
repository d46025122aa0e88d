"""How many Salesforce rounds an event's reads take when asked as the engine asks them:
Salesforce lookups wait while a Stripe read is pending (`lookup_batches.this_round`), and a
customer stripe2sf does not remember is read from Stripe up front, so a new customer's
Account, Contact and Contacts-by-email lookups go to Salesforce together (one call)."""

from __future__ import annotations

from stripe2sf.domain.batch.lookups import this_round
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import Lookup, LookupKind
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.flows.planner import plan
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    contact_row,
    customer,
    envelope,
    ops_by_id,
)


def salesforce_rounds(raw: dict[str, object], org: FakeOrg) -> tuple[list[set[str]], object]:
    config = SyncConfig()
    view = parse_event(raw)
    org.payload = dict(view.object)
    ctx = context_for(config)
    rounds: list[set[str]] = []
    for _ in range(10):
        asked = [x for x in lookups_needed(view, config, ctx) if not ctx.has(x.kind, x.key)]
        if not asked:
            return rounds, plan(view, ctx, config)
        now: list[Lookup] = this_round(asked)
        if any(x.is_salesforce for x in now):
            rounds.append({x.kind.value for x in now if x.is_salesforce})
        ctx = ctx.with_results({x: org.answer(x) for x in now})
    raise AssertionError("lookups did not settle")


def test_a_new_customers_charge_reads_salesforce_once() -> None:
    org = FakeOrg(stripe={"cus_1": customer()}, remembered={"cus_1": False})
    rounds, the_plan = salesforce_rounds(envelope("charge.succeeded", charge()), org)
    assert rounds == [
        {
            LookupKind.SF_ACCOUNT_BY_CUSTOMER.value,
            LookupKind.SF_CONTACT_BY_CUSTOMER.value,
            LookupKind.SF_CONTACTS_BY_EMAIL.value,
        }
    ]
    assert {"account", "contact", "payment"} <= set(ops_by_id(the_plan))  # type: ignore[arg-type]


def test_without_knowing_whether_it_is_remembered_the_search_waits_for_the_answer() -> None:
    """A backfill cannot tell (None): the customer is only read once Salesforce says it is
    not linked, as before (no Stripe read for a linked customer)."""
    org = FakeOrg(stripe={"cus_1": customer()})
    rounds, _ = salesforce_rounds(envelope("charge.succeeded", charge()), org)
    assert len(rounds) == 2


def test_a_remembered_customer_is_not_read_from_stripe() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer()},
        accounts=[account_row()],
        contacts=[contact_row(customer_id="cus_1")],
        remembered={"cus_1": True},
    )
    rounds, _ = salesforce_rounds(envelope("charge.succeeded", charge()), org)
    assert len(rounds) == 1  # the engine answers these from the links table: no call
    assert LookupKind.STRIPE_CUSTOMER not in {x.kind for x in org.asked}
