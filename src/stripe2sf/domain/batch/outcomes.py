"""Read Salesforce answers back into one outcome per operation (pure).

The executor sends each `SalesforceCall` and hands the HTTP status and decoded JSON body
to `outcomes_for`; Bulk API 2.0 jobs hand their result CSVs to `bulk_outcomes`. The result,
op id -> `OpOutcome`, feeds the audit trail (`audit.records_from_plan`) and tells the worker
whether the event is done (`all_ok`) or should be retried (`retryable_failure`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.errors import RETRYABLE_SALESFORCE_CODES
from stripe2sf.domain.matching.duplicates import report_from_bulk, report_from_errors


def _errors(value: Any) -> tuple[str | None, str | None]:
    """(code, message) from a Salesforce error list or object."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, Mapping):
            code = item.get("errorCode") or item.get("statusCode")
            message = item.get("message")
            fields = item.get("fields")
            if fields:
                message = f"{message} (fields: {', '.join(map(str, fields))})"
            return (str(code) if code else None), (str(message) if message else None)
    return None, None


def _single(status: int, body: Any) -> OpOutcome:
    if 200 <= status < 300:
        rid = body.get("id") if isinstance(body, Mapping) else None
        created = body.get("created") if isinstance(body, Mapping) else None
        return OpOutcome(True, rid, created=created if isinstance(created, bool) else None)
    code, message = _errors(body)
    report = report_from_errors(body)
    if report is not None:  # the rule's name and its matches, for the audit trail
        message = report.describe()
    return OpOutcome(
        False,
        error=message or f"HTTP {status}",
        code=code or f"HTTP_{status}",
        duplicates=report,
    )


def _collection(status: int, body: Any, count: int) -> list[OpOutcome]:
    if not (200 <= status < 300) or not isinstance(body, list):
        failure = _single(status if status >= 300 else 500, body)
        return [failure] * count
    out: list[OpOutcome] = []
    for i in range(count):
        item = body[i] if i < len(body) and isinstance(body[i], Mapping) else {}
        if item.get("success"):
            created = item.get("created")
            out.append(
                OpOutcome(
                    True, item.get("id"), created=created if isinstance(created, bool) else None
                )
            )
        else:
            code, message = _errors(item.get("errors") or [])
            report = report_from_errors(item.get("errors") or [])
            if report is not None:
                message = report.describe()
            out.append(
                OpOutcome(False, item.get("id"), message or "no result", code, duplicates=report)
            )
    return out


def _spread(call: SalesforceCall, results: Sequence[OpOutcome]) -> dict[str, OpOutcome]:
    mapping: dict[str, OpOutcome] = {}
    for op_ids, result in zip(call.record_op_ids, results, strict=False):
        for op_id in op_ids:
            mapping[op_id] = result
    missing = OpOutcome(False, error="no answer for this record", code="NO_RESULT")
    for op_id in call.op_ids:
        mapping.setdefault(op_id, missing)
    return mapping


def _by_kind(call: SalesforceCall, status: int, body: Any) -> dict[str, OpOutcome]:
    if call.kind in ("record_upsert", "record_update"):
        return _spread(call, [_single(status, body)])
    if call.kind in ("collection_upsert", "collection_update"):
        return _spread(call, _collection(status, body, len(call.record_op_ids)))
    raise ValueError(f"unexpected call kind {call.kind}")


def outcomes_for(call: SalesforceCall, status: int, body: Any) -> dict[str, OpOutcome]:
    """Outcomes of every operation a REST call carried (record, collection, composite, graph)."""
    if call.kind == "composite":
        responses = body.get("compositeResponse") if isinstance(body, Mapping) else None
        if not (200 <= status < 300) or not isinstance(responses, list):
            failure = _single(status if status >= 300 else 500, body)
            return dict.fromkeys(call.op_ids, failure)
        out: dict[str, OpOutcome] = {}
        for sub, answer in zip(call.subrequests, responses, strict=False):
            sub_status = (
                int(answer.get("httpStatusCode", 500)) if isinstance(answer, Mapping) else 500
            )
            sub_body = answer.get("body") if isinstance(answer, Mapping) else None
            out.update(_by_kind(sub, sub_status, sub_body))
        for op_id in call.op_ids:
            out.setdefault(op_id, OpOutcome(False, error="no answer", code="NO_RESULT"))
        return out
    if call.kind == "graph":
        graphs = body.get("graphs") if isinstance(body, Mapping) else None
        out = {}
        for op_ids, graph in zip(call.record_op_ids, graphs or [], strict=False):
            ok = isinstance(graph, Mapping) and bool(graph.get("isSuccessful"))
            code, message = (None, None)
            if not ok and isinstance(graph, Mapping):
                responses = (graph.get("graphResponse") or {}).get("compositeResponse") or []
                for r in responses:
                    if isinstance(r, Mapping) and int(r.get("httpStatusCode", 200)) >= 300:
                        code, message = _errors(r.get("body"))
                        report = report_from_errors(r.get("body"))
                        if report is not None:  # a duplicate rule refused a node: name it
                            message = report.describe()
                        break
            for op_id in op_ids:
                out[op_id] = OpOutcome(
                    ok, error=None if ok else message or "graph failed", code=code
                )
        for op_id in call.op_ids:
            out.setdefault(op_id, OpOutcome(False, error="no answer", code="NO_RESULT"))
        return out
    if call.kind == "bulk_ingest":
        raise ValueError("Bulk API 2.0 jobs report through bulk_outcomes(call, ok_csv, failed_csv)")
    return _by_kind(call, status, body)


def bulk_outcomes(
    call: SalesforceCall, successful_csv: str, failed_csv: str
) -> dict[str, OpOutcome]:
    """Outcomes of a Bulk API 2.0 ingest job from its successfulResults / failedResults CSVs.

    Rows are matched back by the key column (the external id, or Id for updates).
    """
    reader = csv.reader(io.StringIO(call.csv_data or ""))
    header = next(reader, None)
    if not header:
        return {}
    key_column = header[0]
    # only the key column is kept: the job's CSV may hold tens of thousands of rows
    op_ids_by_key = {
        row[0]: ids for row, ids in zip(reader, call.record_op_ids, strict=False) if row
    }
    out: dict[str, OpOutcome] = {}
    for row in csv.DictReader(io.StringIO(successful_csv)):
        created = (row.get("sf__Created") or "").lower() == "true"
        for op_id in op_ids_by_key.get(row.get(key_column) or "", ()):
            out[op_id] = OpOutcome(True, row.get("sf__Id") or None, created=created)
    for row in csv.DictReader(io.StringIO(failed_csv)):
        error = row.get("sf__Error") or "failed"
        code = error.split(":", 1)[0] if ":" in error else None
        report = report_from_bulk(error)
        for op_id in op_ids_by_key.get(row.get(key_column) or "", ()):
            out[op_id] = OpOutcome(False, row.get("sf__Id") or None, error, code, duplicates=report)
    for op_id in call.op_ids:
        out.setdefault(
            op_id, OpOutcome(False, error="not processed by the job", code="UNPROCESSED")
        )
    return out


def all_ok(outcomes: Mapping[str, OpOutcome]) -> bool:
    """True when every operation succeeded: the event is done and its ledger may advance."""
    return all(o.ok for o in outcomes.values())


def retryable_failure(outcomes: Mapping[str, OpOutcome]) -> bool:
    """True when some operation failed for a reason worth retrying (row lock, limits, 5xx)."""
    for o in outcomes.values():
        if o.ok:
            continue
        code = o.code or ""
        if code in RETRYABLE_SALESFORCE_CODES or code.startswith("HTTP_5") or code == "NO_RESULT":
            return True
    return False
