"""Send planned `SalesforceCall`s in order and read back one outcome per operation.

- REST record upsert/update, sObject Collections, Composite and Composite Graph: one request
  each, answers read by `domain.batch.outcomes.outcomes_for` (Composite subrequests and Collection
  records each answer for their own op ids: partial success is kept per operation).
- Bulk API 2.0 ingest: `salesforce.bulk.run_ingest`.
- A call that fails as a whole for a retryable reason (no answer, 5xx, row lock, rate limit,
  expired session) stops the run: later calls may depend on it, so their operations are
  reported as NOT_ATTEMPTED (class "halted"). Per-record failures and permanent whole-call
  failures do not stop it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.batch.outcomes import outcomes_for
from stripe2sf.domain.batch.results import (
    CallReport,
    ExecutionResult,
    classify_http,
    failed_call,
    graph_outcomes,
    http_code,
    not_attempted,
    with_update_ids,
)
from stripe2sf.domain.errors import SyncError
from stripe2sf.salesforce.bulk import run_ingest
from stripe2sf.salesforce.errors import code_for_exception, error_items, retry_after_header
from stripe2sf.salesforce.sender import Sender
from stripe2sf.salesforce.transport import body_of
from stripe2sf.salesforce.usage import KIND_OF_CALL


def _send_json(
    client: Sender, call: SalesforceCall
) -> tuple[Mapping[str, OpOutcome], CallReport, float | None]:
    n = len(call.op_ids)
    try:
        response = client.send(call.method, call.path, kind=KIND_OF_CALL[call.kind], json=call.body)
    except SyncError as exc:
        code = code_for_exception(exc)
        return (
            failed_call(call, code, str(exc)),
            CallReport(call.kind, call.path, None, n, code),
            None,
        )
    status = response.status_code
    body = body_of(response)
    outcomes = with_update_ids(call, outcomes_for(call, status, body))
    if call.kind == "graph" and isinstance(body, Mapping):
        outcomes = graph_outcomes(call, body.get("graphs"), outcomes)
    error: str | None = None
    if not 200 <= status < 300:
        found, _ = error_items(body)
        error = http_code(status, found)
    wait = retry_after_header(response.headers.get("Retry-After")) if status == 429 else None
    return outcomes, CallReport(call.kind, call.path, status, n, error), wait


def stops_the_run(report: CallReport) -> bool:
    """Whether a call's whole-call failure means later calls must not be sent."""
    if report.error is None:
        return False
    if report.status is None:
        return True
    return classify_http(report.status, report.error) in ("retryable", "rate_limited")


def execute(client: Sender, calls: Sequence[SalesforceCall]) -> ExecutionResult:
    """Send `calls` in order; every op id of every call gets an outcome."""
    result = ExecutionResult()
    stopped: str | None = None
    for call in calls:
        if stopped is not None:
            report = CallReport(call.kind, call.path, None, len(call.op_ids), "NOT_ATTEMPTED")
            result.merge(not_attempted(call, stopped), report)
            continue
        outcomes: Mapping[str, OpOutcome]
        wait: float | None = None
        if call.kind == "bulk_ingest":
            outcomes, report = run_ingest(client, call)
        else:
            outcomes, report, wait = _send_json(client, call)
        result.merge(outcomes, report)
        if wait is not None:
            result.retry_after = max(wait, result.retry_after or 0.0)
        if stops_the_run(report):
            stopped = f"{report.error} on {call.kind} {call.path}"
    return result
