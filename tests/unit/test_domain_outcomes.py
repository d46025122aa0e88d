"""Salesforce answers mapped back to one outcome per operation."""

from __future__ import annotations

import pytest

from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.batch.outcomes import all_ok, bulk_outcomes, outcomes_for, retryable_failure
from stripe2sf.domain.operations import Operation


def acc(op_id: str, key: str) -> Operation:
    return Operation(op_id, "upsert", "Account", "Stripe_Customer_Id__c", key, {"Name": key})


def pay(op_id: str, key: str, dep: tuple[str, ...] = ()) -> Operation:
    return Operation(
        op_id,
        "upsert",
        "Stripe_Payment__c",
        "Stripe_Charge_Id__c",
        key,
        {"A__c": 1},
        depends_on=dep,
    )


def test_single_record_created_and_error() -> None:
    (call,) = batch([acc("a", "cus_1")])
    ok = outcomes_for(call, 201, {"id": "001X", "success": True, "errors": [], "created": True})
    assert ok["a"].ok and ok["a"].record_id == "001X" and ok["a"].created is True
    bad = outcomes_for(call, 400, [{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Name"}])
    assert not bad["a"].ok and bad["a"].code == "REQUIRED_FIELD_MISSING"
    assert not retryable_failure(bad)


def test_update_204_without_body_is_ok() -> None:
    (call,) = batch([Operation("u", "update", "Account", "Id", "001A", {"X__c": 1})])
    assert outcomes_for(call, 204, None)["u"].ok


def test_collection_results_in_order() -> None:
    (call,) = batch([acc("a", "cus_1"), acc("b", "cus_2")])
    body = [
        {"id": "001A", "success": True, "errors": [], "created": False},
        {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "lock"}]},
    ]
    out = outcomes_for(call, 200, body)
    assert out["a"].ok and not out["b"].ok
    assert retryable_failure(out) and not all_ok(out)


def test_composite_with_nested_collection() -> None:
    ops = [acc("a", "cus_1"), acc("b", "cus_2"), pay("p", "ch_1", ("a",))]
    (call,) = batch(ops)
    assert call.kind == "composite"
    body = {
        "compositeResponse": [
            {
                "httpStatusCode": 200,
                "referenceId": "r0",
                "body": [
                    {"id": "001A", "success": True, "errors": []},
                    {"id": "001B", "success": True, "errors": []},
                ],
            },
            {"httpStatusCode": 201, "referenceId": "r1", "body": {"id": "a01", "success": True}},
        ]
    }
    out = outcomes_for(call, 200, body)
    assert all_ok(out) and set(out) == {"a", "b", "p"}
    assert out["p"].record_id == "a01"


def test_whole_call_failure_fails_every_op_and_5xx_is_retryable() -> None:
    (call,) = batch([acc("a", "cus_1"), pay("p", "ch_1", ("a",))])
    out = outcomes_for(call, 503, {"message": "down"})
    assert set(out) == {"a", "p"} and not any(o.ok for o in out.values())
    assert retryable_failure(out)


def test_bulk_results_matched_by_key() -> None:
    (call,) = batch([acc("a", "cus_1"), acc("b", "cus_2"), acc("c", "cus_3")], bulk_threshold=2)
    ok_csv = "sf__Id,sf__Created,Stripe_Customer_Id__c,Name\n001A,true,cus_1,cus_1\n"
    failed_csv = 'sf__Id,sf__Error,Stripe_Customer_Id__c,Name\n,"DUPLICATE_VALUE:dup",cus_2,cus_2\n'
    out = bulk_outcomes(call, ok_csv, failed_csv)
    assert out["a"].ok and out["a"].created
    assert out["b"].code == "DUPLICATE_VALUE"
    assert out["c"].code == "UNPROCESSED"
    with pytest.raises(ValueError):
        outcomes_for(call, 200, {})


def test_graph_outcomes_per_plan() -> None:
    from stripe2sf.domain.batch.calls import graph_batch
    from stripe2sf.domain.operations import Plan

    (call,) = graph_batch(
        [Plan("e1", "t", (acc("a", "cus_1"),)), Plan("e2", "t", (acc("b", "x"),))]
    )
    body = {
        "graphs": [
            {"graphId": "g0", "isSuccessful": True, "graphResponse": {"compositeResponse": []}},
            {
                "graphId": "g1",
                "isSuccessful": False,
                "graphResponse": {
                    "compositeResponse": [
                        {
                            "httpStatusCode": 400,
                            "body": [{"errorCode": "INVALID_FIELD", "message": "m"}],
                        }
                    ]
                },
            },
        ]
    }
    out = outcomes_for(call, 200, body)
    assert out["p0/a"].ok and not out["p1/b"].ok and out["p1/b"].code == "INVALID_FIELD"
