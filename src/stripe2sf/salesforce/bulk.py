"""One Bulk API 2.0 ingest job per planned call: create the job, upload the CSV, close it,
poll until it is done, then read its successful and failed results back per operation.

A job that Salesforce fails as a whole (`state: Failed`) fails every operation of the call:
`InvalidBatch`/`InvalidJob` errors (a bad column, object or field) as BULK_INVALID_BATCH
(permanent), anything else as BULK_JOB_FAILED (retryable); an aborted job or one not done
within `client.bulk_timeout` as BULK_JOB_TIMEOUT (retryable). A step that fails (upload
refused, no answer) fails the call like any other whole-call failure; a job left open is
aborted. Rows Salesforce did not process come back as UNPROCESSED (retryable).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import requests

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.batch.outcomes import bulk_outcomes
from stripe2sf.domain.batch.results import (
    CallReport,
    failed_call,
    first_bulk_poll_delay,
    http_code,
    next_bulk_poll_delay,
)
from stripe2sf.domain.errors import SyncError
from stripe2sf.salesforce.errors import code_for_exception, error_items
from stripe2sf.salesforce.sender import Sender
from stripe2sf.salesforce.transport import body_of

FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
CSV_HEADERS = {"Content-Type": "text/csv; charset=UTF-8"}
CSV_ACCEPT = {"Accept": "text/csv"}


class _CallFailed(Exception):
    def __init__(self, code: str, message: str, status: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def job_failure_code(error_message: str) -> str:
    """BULK_INVALID_BATCH (permanent) or BULK_JOB_FAILED (retryable) for a Failed job."""
    head = error_message.strip().split(":", 1)[0].strip()
    return "BULK_INVALID_BATCH" if head in ("InvalidBatch", "InvalidJob") else "BULK_JOB_FAILED"


def _checked(response: requests.Response, step: str) -> requests.Response:
    if 200 <= response.status_code < 300:
        return response
    code, message = error_items(body_of(response))
    raise _CallFailed(
        http_code(response.status_code, code),
        f"Bulk API 2.0 {step} failed: {message}",
        response.status_code,
    )


def _poll(client: Sender, job_path: str, rows: int = 0) -> Mapping[str, Any]:
    deadline = time.monotonic() + client.bulk_timeout
    delay = first_bulk_poll_delay(rows, client.bulk_poll_interval)
    while True:
        time.sleep(delay)
        info: Mapping[str, Any] = _checked(
            client.send("GET", job_path, kind="bulk"), "job status"
        ).json()
        if info.get("state") in FINAL_STATES:
            return info
        delay = next_bulk_poll_delay(delay, client.bulk_poll_interval)
        if time.monotonic() + delay > deadline:
            raise _CallFailed(
                "BULK_JOB_TIMEOUT",
                f"Bulk API 2.0 job not done after {client.bulk_timeout:.0f} s "
                f"(state {info.get('state')})",
                200,
            )


def _abort(client: Sender, job_path: str) -> None:
    with contextlib.suppress(SyncError, ValueError):
        info = client.send("GET", job_path, kind="bulk").json()
        if info.get("state") in ("Open", "UploadComplete", "InProgress"):
            client.send("PATCH", job_path, kind="bulk", json={"state": "Aborted"})


def run_ingest(client: Sender, call: SalesforceCall) -> tuple[dict[str, OpOutcome], CallReport]:
    """Run one ingest job; every op id of `call` gets an outcome."""
    n = len(call.op_ids)
    job_path: str | None = None
    status: int | None = None
    try:
        created = _checked(client.send("POST", call.path, kind="bulk", json=call.body), "create")
        job_path = f"{call.path.rstrip('/')}/{created.json()['id']}"
        _checked(  # the response (and its request's body) is not kept while the job runs
            client.send(
                "PUT",
                f"{job_path}/batches",
                kind="bulk",
                data=(call.csv_data or "").encode("utf-8"),
                headers=CSV_HEADERS,
            ),
            "upload",
        )
        close = client.send("PATCH", job_path, kind="bulk", json={"state": "UploadComplete"})
        _checked(close, "close")
        info = _poll(client, job_path, n)
        status = 200
        state = info.get("state")
        if state != "JobComplete":
            message = str(info.get("errorMessage") or f"job {state}")
            code = job_failure_code(message) if state == "Failed" else "BULK_JOB_TIMEOUT"
            raise _CallFailed(code, f"Bulk API 2.0 job {state}: {message}", 200)
        results = []
        for name in ("successfulResults", "failedResults"):
            got = client.send("GET", f"{job_path}/{name}", kind="bulk", headers=CSV_ACCEPT)
            results.append(_checked(got, name).text)
        found = bulk_outcomes(call, results[0], results[1])
        outcomes = {op_id: found[op_id] for op_id in call.op_ids}  # in row order
        return outcomes, CallReport(call.kind, call.path, status, n)
    except _CallFailed as exc:
        if job_path is not None:
            _abort(client, job_path)
        report = CallReport(call.kind, call.path, exc.status, n, exc.code)
        return failed_call(call, exc.code, str(exc)), report
    except (SyncError, KeyError, ValueError) as exc:
        code = code_for_exception(exc) if isinstance(exc, SyncError) else "BULK_JOB_FAILED"
        if job_path is not None:
            _abort(client, job_path)
        return failed_call(call, code, str(exc)), CallReport(call.kind, call.path, None, n, code)
