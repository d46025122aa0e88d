"""SalesforceClient.execute against the sandbox org: planned calls of every REST kind, one
outcome per operation, partial success kept, errors mapped into the domain hierarchy."""

from __future__ import annotations

import json

import pytest

from stripe2sf.domain.batch.calls import SalesforceCall, batch, graph_batch
from stripe2sf.domain.errors import PermanentError
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.operations import Operation, Plan, RecordRef
from stripe2sf.salesforce import SalesforceClient
from tests.integration.salesforce_org import client, count, org, salesforce_org

__all__ = ["client", "org", "salesforce_org"]

from tests.support.reference import STRIPE_EVENTS

EVENTS = STRIPE_EVENTS
CUSTOMER_KEY = "Stripe_Customer_Id__c"


def calls_for(sf: SalesforceClient, ops: list[Operation], **kw: int) -> list[SalesforceCall]:
    return batch(ops, api_version=f"v{sf.api_version}", **kw)


def account(op_id: str, customer: str, **fields: object) -> Operation:
    return Operation(
        op_id, "upsert", "Account", CUSTOMER_KEY, customer, {"Name": customer, **fields}
    )


def test_a_real_plan_is_applied(client: SalesforceClient) -> None:
    event = json.loads((EVENTS / "stripe-sync-engine/charge_succeeded.json").read_text())
    the_plan = plan(event)
    calls = calls_for(client, list(the_plan.operations))
    assert [c.kind for c in calls] == ["composite"]
    result = client.execute(calls)
    assert result.ok and result.verdict == "ok" and result.error() is None
    result.raise_for_failures()
    assert set(result.outcomes) == {op.op_id for op in the_plan.operations}
    assert all(o.created and o.record_id for o in result.outcomes.values())
    payment = next(op for op in the_plan.operations if op.sobject == "Stripe_Payment__c")
    rows = client.query_all(
        "SELECT Id, Account__c, Status__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{payment.key_value}'"
    )
    assert len(rows) == 1 and rows[0]["Id"] == result.outcomes[payment.op_id].record_id
    assert rows[0]["Account__c"] == result.outcomes["account"].record_id


@pytest.mark.parametrize("how", ["record", "collection"])
def test_upsert_twice_creates_once(client: SalesforceClient, how: str) -> None:
    ops = (
        [account("a", "cus_twice")]
        if how == "record"
        else [
            account("a", "cus_twice"),
            account("b", "cus_twice_b"),
        ]
    )
    calls = calls_for(client, ops)
    assert calls[0].kind == ("record_upsert" if how == "record" else "collection_upsert")
    first = client.execute(calls)
    second = client.execute(calls)
    assert first.outcomes["a"].created is True and second.outcomes["a"].created is False
    assert first.outcomes["a"].record_id == second.outcomes["a"].record_id
    assert count(client, "Account", "WHERE Stripe_Customer_Id__c = 'cus_twice'") == 1


def test_collection_with_one_invalid_record(client: SalesforceClient) -> None:
    ops = [
        account("good1", "cus_g1", Subscription_Status__c="Active"),
        account("bad", "cus_bad", Subscription_Status__c="Bogus"),
        account("good2", "cus_g2", Subscription_Status__c="Past Due"),
    ]
    calls = calls_for(client, ops)
    assert [c.kind for c in calls] == ["collection_upsert"]
    result = client.execute(calls)
    assert result.succeeded == ["good1", "good2"]
    assert result.failures == {"bad": "permanent"}
    bad = result.outcomes["bad"]
    assert bad.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and "Bogus" in (bad.error or "")
    assert result.verdict == "permanent"
    with pytest.raises(PermanentError) as caught:
        result.raise_for_failures()
    assert caught.value.kind == "salesforce.INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert count(client, "Account") == 2


def test_composite_partial_success_per_subrequest(client: SalesforceClient) -> None:
    ops = [
        account("acct", "cus_c1"),
        Operation(
            "contact",
            "upsert",
            "Contact",
            CUSTOMER_KEY,
            "cus_c1",
            {"Email": "x@example.com"},  # no LastName: REQUIRED_FIELD_MISSING
            refs={"AccountId": RecordRef("Account", CUSTOMER_KEY, "cus_c1")},
            depends_on=("acct",),
        ),
        Operation(
            "pay",
            "upsert",
            "Stripe_Payment__c",
            "Stripe_Charge_Id__c",
            "ch_c1",
            {"Status__c": "Succeeded", "Amount__c": 12.5},
            refs={"Account__c": RecordRef("Account", CUSTOMER_KEY, "cus_c1")},
            depends_on=("acct",),
        ),
    ]
    calls = calls_for(client, ops)
    assert [c.kind for c in calls] == ["composite"]
    result = client.execute(calls)
    assert result.outcomes["acct"].ok and result.outcomes["pay"].ok
    assert result.failures == {"contact": "permanent"}
    assert result.outcomes["contact"].code == "REQUIRED_FIELD_MISSING"
    error = result.error()
    assert isinstance(error, PermanentError) and error.kind == "salesforce.REQUIRED_FIELD_MISSING"
    assert "1 of 3" in str(error)


def test_update_by_id_and_malformed_id(client: SalesforceClient) -> None:
    created = client.execute(calls_for(client, [account("a", "cus_u1")])).outcomes["a"]
    assert created.record_id
    ok = client.execute(
        calls_for(
            client,
            [Operation("u", "update", "Account", "Id", created.record_id, {"Website": "a.io"})],
        )
    )
    assert ok.ok and ok.calls[0].kind == "record_update" and ok.calls[0].status == 204
    assert ok.outcomes["u"].record_id == created.record_id
    bad = client.execute(
        calls_for(client, [Operation("u", "update", "Account", "Id", "001nope", {"Website": "b"})])
    )
    assert bad.verdict == "permanent"
    assert bad.outcomes["u"].code in ("MALFORMED_ID", "NOT_FOUND", "INVALID_ID_FIELD")


def payment(op_id: str, charge: str, status: str) -> Operation:
    return Operation(
        op_id, "upsert", "Stripe_Payment__c", "Stripe_Charge_Id__c", charge, {"Status__c": status}
    )


def test_graph_is_all_or_nothing_per_plan(client: SalesforceClient) -> None:
    good = Plan("evt_good", "x", (account("a", "cus_gr1"), payment("p", "ch_gr1", "Succeeded")))
    bad = Plan("evt_bad", "x", (account("a", "cus_gr2"), payment("p", "ch_gr2", "Nope")))
    calls = graph_batch([good, bad], api_version=f"v{client.api_version}")
    assert [c.kind for c in calls] == ["graph"]
    result = client.execute(calls)
    assert result.outcomes["p0/a"].ok and result.outcomes["p0/p"].ok
    assert result.outcomes["p0/p"].record_id and result.outcomes["p0/a"].created
    assert result.failures == {"p1/a": "halted", "p1/p": "permanent"}
    assert result.outcomes["p1/p"].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert result.verdict == "permanent"
    assert result.error() is not None
    assert result.error().kind == "salesforce.INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"  # type: ignore[union-attr]
    assert count(client, "Account") == 1 and count(client, "Stripe_Payment__c") == 1


def test_graph_collection_node_reports_each_record(client: SalesforceClient) -> None:
    # batching sends Collections inside a graph with allOrNone false, so a bad record does
    # not fail the graph; the outcome says which record failed and which was written
    bad = Plan(
        "evt", "x", (account("a", "cus_gc1"), account("b", "cus_gc2", Subscription_Status__c="No"))
    )
    result = client.execute(graph_batch([bad], api_version=f"v{client.api_version}"))
    assert result.failures == {"p0/b": "permanent"}
    assert result.outcomes["p0/a"].ok and result.outcomes["p0/a"].record_id
    assert count(client, "Account") == 1


def test_many_layers_travel_in_several_composites(client: SalesforceClient) -> None:
    ops = [account(f"a{i}", f"cus_l{i}") for i in range(30)]
    ops = [
        Operation(
            op.op_id,
            "upsert",
            op.sobject,
            op.key_field,
            op.key_value,
            op.fields,
            depends_on=(ops[i - 1].op_id,) if i else (),
        )
        for i, op in enumerate(ops)
    ]
    calls = calls_for(client, ops)
    assert [c.kind for c in calls] == ["composite", "composite"]
    result = client.execute(calls)
    assert result.ok and len(result.outcomes) == 30
    assert client.usage().calls[("composite", "ok")] == 2


@pytest.mark.parametrize(
    "key",
    ["cus_a/b c?é#", "cus_a+b%41"],
)
def test_external_id_with_reserved_characters(client: SalesforceClient, key: str) -> None:
    calls = calls_for(client, [account("a", key)])
    first, second = client.execute(calls), client.execute(calls)
    assert first.outcomes["a"].created is True and second.outcomes["a"].created is False
    rows = client.query_all("SELECT Stripe_Customer_Id__c FROM Account")
    assert [r[CUSTOMER_KEY] for r in rows] == [key]


def test_collection_update_by_id(client: SalesforceClient) -> None:
    made = client.execute(calls_for(client, [account("a", "cus_cu1"), account("b", "cus_cu2")]))
    ids = [made.outcomes[x].record_id or "" for x in ("a", "b")]
    ops = [
        Operation("u1", "update", "Account", "Id", ids[0], {"Website": "one.example.com"}),
        Operation("u2", "update", "Account", "Id", ids[1], {"Website": "x" * 300}),  # too long
    ]
    calls = calls_for(client, ops)
    assert [c.kind for c in calls] == ["collection_update"]
    result = client.execute(calls)
    assert result.outcomes["u1"].ok and result.outcomes["u1"].record_id == ids[0]
    assert result.failures == {"u2": "permanent"}
    assert result.outcomes["u2"].code == "STRING_TOO_LONG"
