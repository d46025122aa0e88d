"""Batching: layers, Collections, Composite, Bulk 2.0, Composite Graph."""

from __future__ import annotations

import csv
import io

import pytest

from stripe2sf.domain.batch.calls import batch, graph_batch, layers
from stripe2sf.domain.operations import Operation, Plan, RecordRef

ACC = RecordRef("Account", "Stripe_Customer_Id__c", "cus_1")


def pay(i: int, dep: tuple[str, ...] = ()) -> Operation:
    return Operation(
        f"p{i}",
        "upsert",
        "Stripe_Payment__c",
        "Stripe_Charge_Id__c",
        f"ch_{i}",
        {"Amount__c": i},
        refs={"Account__c": ACC},
        depends_on=dep,
    )


def account(op_id: str = "account") -> Operation:
    return Operation(op_id, "upsert", "Account", "Stripe_Customer_Id__c", "cus_1", {"Name": "A"})


def test_single_record_goes_direct_without_composite() -> None:
    calls = batch([pay(1)])
    assert len(calls) == 1
    call = calls[0]
    assert (call.kind, call.method) == ("record_upsert", "PATCH")
    assert call.path == "/services/data/v60.0/sobjects/Stripe_Payment__c/Stripe_Charge_Id__c/ch_1"
    assert call.body == {"Amount__c": 1, "Account__r": {"Stripe_Customer_Id__c": "cus_1"}}


def test_dependent_records_in_one_composite_in_order() -> None:
    calls = batch([account(), pay(1, ("account",))])
    assert len(calls) == 1 and calls[0].kind == "composite"
    subs = calls[0].body["compositeRequest"]
    assert [s["url"].split("/")[5] for s in subs] == ["Account", "Stripe_Payment__c"]
    assert calls[0].record_op_ids == (("account",), ("p1",))


def test_many_records_use_collections_of_at_most_200() -> None:
    calls = batch([pay(i) for i in range(450)])
    assert len(calls) == 1 and calls[0].kind == "composite"
    subs = calls[0].subrequests
    assert [s.kind for s in subs] == ["collection_upsert"] * 3
    assert [len(s.body["records"]) for s in subs] == [200, 200, 50]
    assert subs[0].path.endswith("/composite/sobjects/Stripe_Payment__c/Stripe_Charge_Id__c")
    assert subs[0].body["records"][0]["attributes"] == {"type": "Stripe_Payment__c"}


def test_more_than_25_requests_split_into_several_composites() -> None:
    ops = [
        Operation(f"o{i}", "upsert", f"Obj{i}__c", "Key__c", "k", {"F__c": 1}) for i in range(30)
    ]
    calls = batch(ops)
    assert [c.kind for c in calls] == ["composite", "composite"]
    assert [len(c.body["compositeRequest"]) for c in calls] == [25, 5]


def test_updates_by_id_may_share_a_collection() -> None:
    ops = [
        Operation("a", "update", "Account", "Id", "001A", {"Stripe_Customer_Id__c": "cus_1"}),
        Operation("c", "update", "Contact", "Id", "003A", {"Stripe_Customer_Id__c": "cus_1"}),
    ]
    calls = batch(ops)
    assert len(calls) == 1 and calls[0].kind == "collection_update"
    assert calls[0].path == "/services/data/v60.0/composite/sobjects"
    assert {r["Id"] for r in calls[0].body["records"]} == {"001A", "003A"}


def test_same_record_twice_is_merged() -> None:
    a = Operation("x", "upsert", "Account", "Stripe_Customer_Id__c", "cus_1", {"A__c": 1})
    b = Operation("y", "upsert", "Account", "Stripe_Customer_Id__c", "cus_1", {"B__c": 2})
    calls = batch([a, b])
    assert len(calls) == 1
    assert calls[0].body == {"A__c": 1, "B__c": 2}
    assert calls[0].record_op_ids == (("x", "y"),)


def test_bulk_above_threshold_as_csv_with_relationship_columns() -> None:
    ops = [account()] + [pay(i, ("account",)) for i in range(5)]
    calls = batch(ops, bulk_threshold=5)
    assert [c.kind for c in calls] == ["bulk_ingest", "bulk_ingest"]
    job = calls[1]
    assert job.body == {
        "object": "Stripe_Payment__c",
        "operation": "upsert",
        "contentType": "CSV",
        "lineEnding": "LF",
        "externalIdFieldName": "Stripe_Charge_Id__c",
    }
    rows = list(csv.reader(io.StringIO(job.csv_data or "")))
    assert rows[0] == ["Stripe_Charge_Id__c", "Amount__c", "Account__r.Stripe_Customer_Id__c"]
    assert rows[1] == ["ch_0", "0", "cus_1"]
    assert len(rows) == 6


def test_polymorphic_reference_in_rest_body() -> None:
    task = Operation(
        "t",
        "upsert",
        "Task",
        "Stripe_Dedupe_Key__c",
        "in_1:1",
        {"Subject": "s"},
        refs={"WhatId": ACC, "OwnerId": RecordRef("User", "Id", "005X")},
    )
    body = batch([task])[0].body
    assert body["What"] == {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_1"}
    assert body["OwnerId"] == "005X"


def test_cycle_is_refused() -> None:
    a = Operation("a", "upsert", "X__c", "K__c", "1", depends_on=("b",))
    b = Operation("b", "upsert", "X__c", "K__c", "2", depends_on=("a",))
    with pytest.raises(ValueError):
        layers([a, b])


def test_graph_batch_one_graph_per_plan() -> None:
    plans = [
        Plan("evt_1", "charge.succeeded", (account(), pay(1, ("account",)))),
        Plan("evt_2", "charge.succeeded", (pay(2),)),
    ]
    calls = graph_batch(plans)
    assert len(calls) == 1 and calls[0].kind == "graph"
    graphs = calls[0].body["graphs"]
    assert [g["graphId"] for g in graphs] == ["g0", "g1"]
    assert len(graphs[0]["compositeRequest"]) == 2
    assert calls[0].record_op_ids == (("p0/account", "p0/p1"), ("p1/p2",))


def test_empty() -> None:
    assert batch([]) == []
