"""Per-operation results of Salesforce calls and the verdict the worker acts on (pure:
`domain.batch.results`, plus the small decisions of `salesforce.errors` / `executor` / `bulk`)."""

from __future__ import annotations

from typing import Any

import pytest

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import batch, graph_batch
from stripe2sf.domain.batch.outcomes import outcomes_for
from stripe2sf.domain.batch.results import (
    CallReport,
    ExecutionResult,
    classify_code,
    classify_http,
    failed_call,
    first_bulk_poll_delay,
    graph_outcomes,
    next_bulk_poll_delay,
    not_attempted,
    with_update_ids,
)
from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError
from stripe2sf.domain.operations import Operation, Plan
from stripe2sf.salesforce.bulk import job_failure_code
from stripe2sf.salesforce.client import call_outcome
from stripe2sf.salesforce.errors import error_for_answer, error_items, retry_after_header
from stripe2sf.salesforce.executor import stops_the_run


def acc(op_id: str, key: str, **fields: Any) -> Operation:
    return Operation(
        op_id, "upsert", "Account", "Stripe_Customer_Id__c", key, {"Name": key, **fields}
    )


def pay(op_id: str, key: str) -> Operation:
    return Operation(op_id, "upsert", "Stripe_Payment__c", "Stripe_Charge_Id__c", key, {"A__c": 1})


def result_of(
    *outcomes: tuple[str, OpOutcome], retry_after: float | None = None
) -> ExecutionResult:
    return ExecutionResult(dict(outcomes), retry_after=retry_after)


OK = OpOutcome(True, "001A", created=True)


def fail(code: str) -> OpOutcome:
    return OpOutcome(False, error=f"{code} happened", code=code)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("UNABLE_TO_LOCK_ROW", "retryable"),
        ("SERVER_UNAVAILABLE", "retryable"),
        ("UNKNOWN_EXCEPTION", "retryable"),  # per record too: Salesforce's own fault
        ("HTTP_503", "retryable"),
        ("HTTP_502", "retryable"),
        ("TIMEOUT", "retryable"),
        ("CONNECTION_ERROR", "retryable"),
        ("INVALID_SESSION_ID", "retryable"),
        ("UNPROCESSED", "retryable"),
        ("LOGIN_FAILED", "retryable"),
        ("REQUEST_LIMIT_EXCEEDED", "rate_limited"),
        ("HTTP_429", "rate_limited"),
        ("PROCESSING_HALTED", "halted"),
        ("ALL_OR_NONE_OPERATION_ROLLED_BACK", "halted"),
        ("NOT_ATTEMPTED", "halted"),
        ("REQUIRED_FIELD_MISSING", "permanent"),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "permanent"),
        ("STRING_TOO_LONG", "permanent"),
        ("INVALID_FIELD", "permanent"),
        ("DUPLICATE_VALUE", "retryable"),
        ("MALFORMED_ID", "permanent"),
        ("INVALID_TYPE", "permanent"),
        ("BULK_INVALID_BATCH", "permanent"),
        ("HTTP_400", "permanent"),
        (None, "permanent"),
    ],
)
def test_classify_code(code: str | None, cls: str) -> None:
    assert classify_code(code) == cls


def test_classify_http() -> None:
    assert classify_http(None, None) == "retryable"
    assert classify_http(429, None) == "rate_limited"
    assert classify_http(403, "REQUEST_LIMIT_EXCEEDED") == "rate_limited"
    assert classify_http(500, "UNKNOWN_EXCEPTION") == "retryable"
    assert classify_http(400, "UNABLE_TO_LOCK_ROW") == "retryable"
    assert classify_http(400, "REQUIRED_FIELD_MISSING") == "permanent"
    assert classify_http(404, "NOT_FOUND") == "permanent"


def test_all_ok() -> None:
    r = result_of(("a", OK), ("b", OK))
    assert r.ok and r.verdict == "ok" and r.error() is None
    r.raise_for_failures()


def test_partial_permanent_failure() -> None:
    r = result_of(("a", OK), ("b", fail("STRING_TOO_LONG")), ("c", OK))
    assert r.succeeded == ["a", "c"] and r.ids("permanent") == ["b"]
    error = r.error()
    assert isinstance(error, PermanentError)
    assert error.kind == "salesforce.STRING_TOO_LONG"
    assert "1 of 3" in str(error) and "b: STRING_TOO_LONG" in str(error)
    with pytest.raises(PermanentError):
        r.raise_for_failures()


def test_first_real_failure_decides() -> None:
    # a row lock first, then a failure that may be its consequence: retry
    r = result_of(("acct", fail("UNABLE_TO_LOCK_ROW")), ("contact", fail("INVALID_FIELD")))
    assert r.verdict == "retryable"
    error = r.error()
    assert isinstance(error, RetryableError) and not isinstance(error, RateLimitedError)
    assert error.kind == "salesforce.UNABLE_TO_LOCK_ROW"
    # a validation error first: retrying cannot help
    r = result_of(("a", fail("REQUIRED_FIELD_MISSING")), ("b", fail("UNABLE_TO_LOCK_ROW")))
    assert r.verdict == "permanent"


def test_halted_operations_do_not_decide() -> None:
    r = result_of(("a", fail("PROCESSING_HALTED")), ("b", fail("INVALID_FIELD")))
    assert r.verdict == "permanent" and r.error().kind == "salesforce.INVALID_FIELD"  # type: ignore[union-attr]
    only_halted = result_of(("a", fail("NOT_ATTEMPTED")))
    assert only_halted.verdict == "retryable"


def test_rate_limits() -> None:
    r = result_of(("a", fail("UNABLE_TO_LOCK_ROW")), ("b", fail("REQUEST_LIMIT_EXCEEDED")))
    assert r.verdict == "rate_limited"
    error = r.error()
    assert isinstance(error, RateLimitedError)
    assert error.kind == "salesforce.REQUEST_LIMIT_EXCEEDED" and error.retry_after == 300
    concurrent = OpOutcome(
        False, error="ConcurrentPerOrgLongTxn Limit exceeded.", code="REQUEST_LIMIT_EXCEEDED"
    )
    assert result_of(("a", concurrent)).error().retry_after == 30  # type: ignore[union-attr]
    r = result_of(("a", fail("HTTP_429")))
    assert r.error().retry_after == 60  # type: ignore[union-attr]
    r = result_of(("a", fail("HTTP_429")), retry_after=7.0)
    assert r.error().retry_after == 7.0  # type: ignore[union-attr]


def test_failed_call_and_not_attempted_cover_every_op() -> None:
    (call,) = batch([acc("a", "cus_1"), acc("b", "cus_2")])
    out = failed_call(call, "TIMEOUT", "read timed out")
    assert set(out) == {"a", "b"} and out["a"].code == "TIMEOUT"
    assert {o.code for o in not_attempted(call, "503 before").values()} == {"NOT_ATTEMPTED"}


def test_stops_the_run() -> None:
    assert not stops_the_run(CallReport("composite", "/x", 200, 2))
    assert stops_the_run(CallReport("composite", "/x", None, 2, "TIMEOUT"))
    assert stops_the_run(CallReport("composite", "/x", 503, 2, "SERVER_UNAVAILABLE"))
    assert stops_the_run(CallReport("composite", "/x", 403, 2, "REQUEST_LIMIT_EXCEEDED"))
    assert stops_the_run(CallReport("bulk_ingest", "/x", 200, 2, "BULK_JOB_FAILED"))
    assert not stops_the_run(CallReport("record_upsert", "/x", 400, 1, "REQUIRED_FIELD_MISSING"))
    assert not stops_the_run(CallReport("bulk_ingest", "/x", 200, 2, "BULK_INVALID_BATCH"))


def test_graph_failure_reports_the_failing_node() -> None:
    good = Plan("e1", "t", (acc("a", "cus_1"), pay("p", "ch_1")))
    bad = Plan("e2", "t", (acc("a", "cus_2"), pay("p", "ch_2")))
    (call,) = graph_batch([good, bad])
    halted = {"errorCode": "PROCESSING_HALTED", "message": "rolled back"}
    body = {
        "graphs": [
            {
                "graphId": "g0",
                "isSuccessful": True,
                "graphResponse": {
                    "compositeResponse": [
                        {"httpStatusCode": 201, "body": {"id": "001A", "created": True}},
                        {"httpStatusCode": 200, "body": {"id": "a00B", "created": False}},
                    ]
                },
            },
            {
                "graphId": "g1",
                "isSuccessful": False,
                "graphResponse": {
                    "compositeResponse": [
                        {"httpStatusCode": 400, "body": [halted]},
                        {
                            "httpStatusCode": 400,
                            "body": [{"errorCode": "STRING_TOO_LONG", "message": "too long"}],
                        },
                    ]
                },
            },
        ]
    }
    out = graph_outcomes(call, body["graphs"], outcomes_for(call, 200, body))
    assert out["p0/a"] == OpOutcome(True, "001A", created=True)
    assert out["p0/p"].record_id == "a00B" and out["p0/p"].created is False
    assert out["p1/a"].code == "PROCESSING_HALTED" and out["p1/p"].code == "STRING_TOO_LONG"
    assert ExecutionResult(out).verdict == "permanent"


def test_graph_with_merged_ops_falls_back_to_the_root_error() -> None:
    merged = Plan("e", "t", (acc("a", "cus_1"), acc("a2", "cus_1", Website="x"), pay("p", "ch")))
    (call,) = graph_batch([merged])
    body = {
        "graphs": [
            {
                "graphId": "g0",
                "isSuccessful": False,
                "graphResponse": {
                    "compositeResponse": [
                        {"httpStatusCode": 400, "body": [{"errorCode": "PROCESSING_HALTED"}]},
                        {"httpStatusCode": 400, "body": [{"errorCode": "INVALID_FIELD"}]},
                    ]
                },
            }
        ]
    }
    out = graph_outcomes(call, body["graphs"], outcomes_for(call, 200, body))
    assert {o.code for o in out.values()} == {"INVALID_FIELD"} and len(out) == 3


def test_error_items_shapes() -> None:
    assert error_items([{"errorCode": "X", "message": "m"}]) == ("X", "m")
    assert error_items({"statusCode": "Y", "message": "n"}) == ("Y", "n")
    assert error_items({"error": "invalid_grant", "error_description": "d"}) == (
        "invalid_grant",
        "d",
    )
    assert error_items("<html>bad gateway</html>") == (None, "<html>bad gateway</html>")
    assert error_items(None) == (None, "")


def test_error_for_answer() -> None:
    limited = error_for_answer(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "x"}], "q")
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 300
    too_many = error_for_answer(429, None, "q", retry_after_header("12"))
    assert isinstance(too_many, RateLimitedError) and too_many.retry_after == 12
    assert too_many.kind == "salesforce.HTTP_429"
    down = error_for_answer(502, "<html>", "q")
    assert isinstance(down, RetryableError) and down.kind == "salesforce.HTTP_502"
    bad = error_for_answer(400, [{"errorCode": "MALFORMED_QUERY", "message": "m"}], "query 'x'")
    assert isinstance(bad, PermanentError) and "MALFORMED_QUERY: m" in str(bad)
    assert retry_after_header("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_call_outcome_and_bulk_job_codes() -> None:
    assert call_outcome(201, {"id": "x"}) == "ok"
    assert call_outcome(400, [{"errorCode": "UNABLE_TO_LOCK_ROW"}]) == "retryable"
    assert call_outcome(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED"}]) == "rate_limited"
    assert call_outcome(400, [{"errorCode": "INVALID_FIELD"}]) == "permanent"
    assert job_failure_code("InvalidBatch : Field name not found : Foo__c") == "BULK_INVALID_BATCH"
    assert job_failure_code("InvalidJob : no such object") == "BULK_INVALID_BATCH"
    assert job_failure_code("Batch failed after 20 retries") == "BULK_JOB_FAILED"


def test_updates_by_id_get_their_record_id_from_the_path() -> None:
    link = Operation("link", "update", "Contact", "Id", "003A", {"Stripe_Customer_Id__c": "c"})
    (call,) = batch([acc("a", "cus_1"), link])
    assert call.kind == "composite"
    body = {
        "compositeResponse": [
            {"httpStatusCode": 201, "body": {"id": "001A", "created": True}},
            {"httpStatusCode": 204, "body": None},
        ]
    }
    out = with_update_ids(call, outcomes_for(call, 200, body))
    assert out["link"] == OpOutcome(True, "003A", created=False)
    assert out["a"].record_id == "001A"
    failed = with_update_ids(call, failed_call(call, "TIMEOUT", "x"))
    assert failed["link"].record_id is None


def test_bulk_polls_wait_in_proportion_to_the_job_then_double_up_to_the_longest() -> None:
    assert first_bulk_poll_delay(10, 5.0) == 0.05  # a small job: asked almost at once
    assert first_bulk_poll_delay(25_000, 5.0) == 0.5
    assert first_bulk_poll_delay(10_000_000, 5.0) == 5.0
    delays = [first_bulk_poll_delay(25_000, 5.0)]
    for _ in range(5):
        delays.append(next_bulk_poll_delay(delays[-1], 5.0))
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    # a 25,000-row job done after ~5 s is seen done by its 4th poll (was the 7th)
    assert sum(delays[:4]) >= 5.0
