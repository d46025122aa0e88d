"""The batch engine's pure parts: claim grouping (waves), lookups as IN queries, merging a
wave's plans without unchanged writes, outcomes mapped back per event, links learned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stripe2sf.domain.audit import OpOutcome, records_from_plan
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.batch.lookups import chunks, queries, split
from stripe2sf.domain.batch.merge import (
    UNCHANGED,
    absent_records,
    mark_unchanged,
    merge,
    outcomes_of,
    record_key,
    written_by,
)
from stripe2sf.domain.batch.order import joins_wave, ready_prefix, steps, waves
from stripe2sf.domain.batch.results import ExecutionResult
from stripe2sf.domain.context import FieldNames, Lookup, LookupKind, PlanContext
from stripe2sf.domain.matching.links import Link, gone, learned, may_use_link, rows_for
from stripe2sf.domain.operations import Operation, Plan, RecordRef

NAMES = FieldNames()
CUST = NAMES.customer_id
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_lane_contributes_its_due_events_until_one_waits() -> None:
    due = [NOW - timedelta(seconds=5), None, NOW + timedelta(seconds=30), None]
    assert ready_prefix([0, 1, 2, 3], NOW, lambda i: due[i]) == [0, 1]


def test_waves_hold_the_kth_event_of_every_lane_in_claim_order() -> None:
    assert waves([["a0", "a1", "a2"], ["b0"], [], ["c0", "c1"]]) == [
        ["a0", "b0", "c0"],
        ["a1", "c1"],
        ["a2"],
    ]
    assert waves([]) == []


def test_an_event_that_joins_goes_in_the_wave_of_the_event_before_it() -> None:
    # a new customer's customer.created, charge.succeeded, payment_intent.succeeded: one wave;
    # invoice.paid reads what invoice.payment_failed wrote: the next wave
    lanes = [
        ["customer.created", "charge.succeeded", "payment_intent.succeeded"],
        ["invoice.payment_failed", "invoice.paid", "customer.subscription.updated"],
        ["charge.succeeded", "customer.deleted"],
    ]
    assert waves(lanes, joins_wave) == [
        [
            "customer.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.payment_failed",
            "charge.succeeded",
        ],
        ["invoice.paid", "customer.subscription.updated", "customer.deleted"],
    ]
    assert steps(["charge.succeeded", "charge.succeeded"], joins_wave) == [
        ["charge.succeeded", "charge.succeeded"]
    ]
    assert not joins_wave("invoice.paid") and not joins_wave("charge.dispute.created")
    # Stripe's deliveries of one second come in any order: the customer after its charge
    assert waves(
        [["charge.succeeded", "customer.created", "payment_intent.succeeded"]], joins_wave
    ) == [["charge.succeeded", "customer.created", "payment_intent.succeeded"]]


def _account_lookup(cid: str) -> Lookup:
    return Lookup(LookupKind.SF_ACCOUNT_BY_CUSTOMER, cid, f"single {cid}")


def test_lookups_of_many_customers_are_one_query_per_kind_split_back_per_key() -> None:
    asked = [_account_lookup(f"cus_{n}") for n in range(3)]
    asked += [Lookup(LookupKind.SF_CONTACTS_BY_EMAIL, e, f"single {e}") for e in ("a@x", "b@x")]
    asked += [Lookup(LookupKind.SF_QUEUE, "Billing", "SELECT Id FROM Group")] * 2
    found = queries(asked, NAMES)
    assert len(found) == 3
    account_query = next(q for q in found if q.kind == LookupKind.SF_ACCOUNT_BY_CUSTOMER)
    assert f"WHERE {CUST} IN ('cus_0', 'cus_1', 'cus_2')" in account_query.soql
    rows = [
        {"Id": "001A", CUST: "cus_1"},
        {"Id": "001B", CUST: "cus_1"},
        {"Id": "001C", CUST: "cus_1"},
    ]
    answers = split(account_query, rows, NAMES)
    assert answers[asked[0]] == [] and len(answers[asked[1]]) == 2  # LIMIT 2, as one lookup
    email_query = next(q for q in found if q.kind == LookupKind.SF_CONTACTS_BY_EMAIL)
    by_email = split(email_query, [{"Id": "003A", "Email": "A@X"}], NAMES)
    assert [r["Id"] for r in by_email[asked[3]]] == ["003A"]
    queue = next(q for q in found if q.kind is None)
    assert queue.soql == "SELECT Id FROM Group" and len(queue.lookups) == 1


def test_one_customer_keeps_its_own_query_and_long_lists_are_chunked() -> None:
    [only] = queries([_account_lookup("cus_1")], NAMES)
    assert only.soql == "single cus_1" and only.kind is None
    values = [f"cus_{n:020d}" for n in range(1000)]
    parts = chunks(values)
    assert [v for part in parts for v in part] == values
    assert all(len(p) <= 200 and sum(len(v) + 4 for v in p) <= 8_000 for p in parts)


def _payment(event_id: str, status: str, amount: int = 25) -> Plan:
    op = Operation(
        "payment",
        "upsert",
        "Stripe_Payment__c",
        "Stripe_Charge_Id__c",
        "ch_1",
        {"Status__c": status, "Amount__c": amount},
        refs={"Account__c": RecordRef("Account", CUST, "cus_1")},
    )
    return Plan(event_id, "charge.succeeded", (op,), customer_id="cus_1")


def test_a_write_equal_to_the_last_one_is_left_out_and_answers_unchanged() -> None:
    first = _payment("evt_1", "succeeded")
    sent = merge([(0, first)], {})
    assert [op.op_id for op in sent.operations] == ["e0/payment"] and not sent.unchanged
    written = written_by(sent.operations, {"e0/payment": OpOutcome(True, "a01")})
    again = merge(
        [(0, _payment("evt_2", "succeeded")), (1, _payment("evt_3", "refunded"))], written
    )
    assert [op.op_id for op in again.operations] == ["e1/payment"]
    assert again.unchanged == {"e0/payment"}
    own = outcomes_of(0, _payment("evt_2", "succeeded"), {}, again)
    assert own == {"payment": OpOutcome(True, code=UNCHANGED)}
    plan = _payment("evt_2", "succeeded")
    records = mark_unchanged(records_from_plan(plan, own, at="t"), plan, own)
    assert [r.outcome for r in records] == ["unchanged"]


def test_records_salesforce_says_are_gone_are_never_unchanged() -> None:
    account = Lookup(LookupKind.SF_ACCOUNT_BY_CUSTOMER, "cus_1", "q")
    contact = Lookup(LookupKind.SF_CONTACT_BY_CUSTOMER, "cus_1", "q")
    row = {"Id": "003A", "AccountId": "001A", CUST: "cus_1"}
    ctx = PlanContext().with_results({account: [], contact: [row]})
    assert absent_records(ctx, "cus_1", NAMES) == {f"Account|{CUST}|cus_1"}
    assert absent_records(PlanContext(), "cus_1", NAMES) == set()  # not asked: not known gone
    assert absent_records(ctx, None, NAMES) == set()


def test_a_failed_write_is_not_remembered_and_a_subset_of_fields_is_unchanged() -> None:
    ops = merge([(0, _payment("evt_1", "succeeded"))], {}).operations
    assert written_by(ops, {"e0/payment": OpOutcome(False, code="UNABLE_TO_LOCK_ROW")}) == {}
    written = written_by(ops, {"e0/payment": OpOutcome(True)})
    key = record_key(ops[0])
    fewer = Operation(
        "payment",
        "upsert",
        "Stripe_Payment__c",
        "Stripe_Charge_Id__c",
        "ch_1",
        {"Status__c": "succeeded"},
    )
    plan = Plan("evt_pi", "payment_intent.succeeded", (fewer,), customer_id="cus_1")
    assert merge([(0, plan)], written).unchanged == {"e0/payment"}
    assert key == "Stripe_Payment__c|Stripe_Charge_Id__c|ch_1"


def test_outcomes_decide_per_event_only_the_failed_one_fails() -> None:
    plans = [(i, _payment(f"evt_{i}", "succeeded", 10 + i)) for i in range(3)]
    plans = [
        (
            i,
            Plan(
                p.event_id,
                p.event_type,
                tuple(
                    Operation(
                        o.op_id, o.action, o.sobject, o.key_field, f"ch_{i}", o.fields, o.refs
                    )
                    for o in p.operations
                ),
                customer_id=f"cus_{i}",
            ),
        )
        for i, p in plans
    ]
    merged = merge(plans, {})
    calls = batch(merged.operations)
    assert len(calls) == 1 and calls[0].kind == "collection_upsert"
    outcomes = {
        "e0/payment": OpOutcome(True, "a0"),
        "e1/payment": OpOutcome(False, code="UNABLE_TO_LOCK_ROW", error="locked"),
        "e2/payment": OpOutcome(True, "a2"),
    }
    verdicts = [
        ExecutionResult(outcomes=outcomes_of(i, p, outcomes, merged)).error() for i, p in plans
    ]
    assert verdicts[0] is None and verdicts[2] is None
    assert verdicts[1] is not None and verdicts[1].kind == "salesforce.UNABLE_TO_LOCK_ROW"


def test_merged_writes_of_one_record_share_their_outcome() -> None:
    plans = [(0, _payment("evt_1", "succeeded")), (1, _payment("evt_2", "refunded"))]
    merged = merge(plans, {})
    [call] = batch(merged.operations)
    assert call.record_op_ids == (("e0/payment", "e1/payment"),)
    assert call.body == {"Status__c": "refunded", "Amount__c": 25, "Account__r": {CUST: "cus_1"}}


def test_links_are_learned_from_created_records_and_lookups_and_dropped_when_gone() -> None:
    account = Operation("account", "upsert", "Account", CUST, "cus_1", {"Name": "A"})
    contact = Operation("contact", "upsert", "Contact", CUST, "cus_1", {"LastName": "B"})
    ctx = PlanContext()
    made = {"account": OpOutcome(True, "001A", created=True), "contact": OpOutcome(True, "003C")}
    assert learned("cus_1", ctx, (account, contact), made, NAMES) == Link("001A", "003C", None)
    # an Account already there (or linked by matching) has an owner we do not know: read it
    existing = {**made, "account": OpOutcome(True, "001A", created=False)}
    assert learned("cus_1", ctx, (account, contact), existing, NAMES) == Link(None, "003C", None)
    read = ctx.with_results(
        {
            Lookup(LookupKind.SF_ACCOUNT_BY_CUSTOMER, "cus_1"): [{"Id": "001A", "OwnerId": "005R"}],
            Lookup(LookupKind.SF_CONTACT_BY_CUSTOMER, "cus_1"): [{"Id": "003C"}],
        }
    )
    link = learned("cus_1", read, (), {}, NAMES)
    assert link == Link("001A", "003C", "005R") and link.complete
    account_row, contact_row = rows_for("cus_1", link, NAMES)
    assert account_row["OwnerId"] == "005R" and contact_row["AccountId"] == "001A"
    assert gone({"x": OpOutcome(False, code="ENTITY_IS_DELETED")})
    assert not gone({"x": OpOutcome(False, code="UNABLE_TO_LOCK_ROW")})
    assert may_use_link("charge.succeeded") and not may_use_link("invoice.payment_failed")
