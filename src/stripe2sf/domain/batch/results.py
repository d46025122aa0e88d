"""What a list of Salesforce calls achieved, per operation, and the one decision the worker
needs from it: done, retry later (how soon), or give up (pure).

`domain.batch.outcomes` reads each answer into op id -> `OpOutcome`; this module classifies every
failure and folds them into an `ExecutionResult`:

    retryable     network error, timeout, HTTP 5xx/408/409/425, UNABLE_TO_LOCK_ROW,
                  SERVER_UNAVAILABLE, UNKNOWN_EXCEPTION, INVALID_SESSION_ID (after one
                  re-login), a failed re-login (LOGIN_FAILED: an operator fixes the settings,
                  the event waits),
                  unprocessed Bulk rows, a Bulk job that failed or timed out
    rate_limited  REQUEST_LIMIT_EXCEEDED (403; Salesforce sends no Retry-After: 300 s for the
                  daily allocation, 30 s for ConcurrentPerOrgLongTxn) and HTTP 429 (its
                  Retry-After, else 60 s)
    permanent     everything else: validation (REQUIRED_FIELD_MISSING, STRING_TOO_LONG,
                  INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, DUPLICATE_VALUE, ...), bad ids,
                  unknown fields or objects
    halted        not a failure of its own: rolled back or never sent because another
                  operation failed (PROCESSING_HALTED, ALL_OR_NONE_OPERATION_ROLLED_BACK,
                  BATCH_PROCESSING_HALTED, NOT_ATTEMPTED)

The event's verdict comes from its *first* real (not halted) failure in execution order: a
later failure may be a consequence of an earlier one (a Contact whose Account upsert hit a
row lock), never the other way round. So a permanent first failure makes the event permanent;
a retryable one makes it retryable (rate limited if any failure was a rate limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import unquote

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import CallKind, SalesforceCall
from stripe2sf.domain.batch.hints import hints
from stripe2sf.domain.batch.outcomes import outcomes_for
from stripe2sf.domain.errors import (
    RETRYABLE_SALESFORCE_CODES,
    PermanentError,
    RateLimitedError,
    RetryableError,
    SyncError,
)

FailureClass = Literal["retryable", "rate_limited", "permanent", "halted"]
Verdict = Literal["ok", "retryable", "rate_limited", "permanent"]

RATE_LIMIT_RETRY_AFTER = 300.0  # REQUEST_LIMIT_EXCEEDED: no Retry-After from Salesforce
TOO_MANY_REQUESTS_RETRY_AFTER = 60.0  # HTTP 429 without a Retry-After header
CONCURRENT_LIMIT_RETRY_AFTER = 30.0  # ConcurrentPerOrgLongTxn: too many long requests now

HALTED_CODES = frozenset(
    {
        "PROCESSING_HALTED",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "BATCH_PROCESSING_HALTED",
        "NOT_ATTEMPTED",
    }
)
RATE_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "HTTP_429"})
# DUPLICATE_VALUE is here because two upserts racing to create the same new external id make
# one of them fail with it, and a retry then updates; a real conflict still ends in the dead
# letters once the retry budget is spent.
TRANSIENT_CODES = (RETRYABLE_SALESFORCE_CODES - RATE_LIMIT_CODES) | {
    "DUPLICATE_VALUE",
    "CONNECTION_ERROR",
    "TIMEOUT",
    "INVALID_SESSION_ID",
    "NO_RESULT",
    "UNPROCESSED",
    "BULK_JOB_TIMEOUT",
    "BULK_JOB_FAILED",
    "LOGIN_FAILED",
}
TRANSIENT_HTTP = frozenset({"HTTP_408", "HTTP_409", "HTTP_425"})


BULK_POLL_ROWS_PER_SECOND = 50_000.0  # first Bulk job status poll after rows / this


def first_bulk_poll_delay(rows: int, longest: float) -> float:
    """Seconds before the first status poll of a Bulk API 2.0 job of `rows` rows: a job
    takes time in proportion to its rows (tens of thousands take seconds), so asking at once
    only spends API calls. At least 0.05 s, at most `longest`."""
    return min(longest, max(0.05, rows / BULK_POLL_ROWS_PER_SECOND))


def next_bulk_poll_delay(delay: float, longest: float) -> float:
    """The wait before the next status poll: doubled, up to `longest`."""
    return min(delay * 2, longest)


def classify_code(code: str | None) -> FailureClass:
    """The class of a failed operation's code (`OpOutcome.code`)."""
    code = code or ""
    if code in HALTED_CODES:
        return "halted"
    if code in RATE_LIMIT_CODES:
        return "rate_limited"
    if code in TRANSIENT_CODES or code in TRANSIENT_HTTP or code.startswith("HTTP_5"):
        return "retryable"
    return "permanent"


def rate_limit_wait(code: str | None, message: str | None) -> float:
    """Seconds to wait after a rate limit without Retry-After: the daily allocation
    (`TotalRequests Limit exceeded.`) refills slowly; the concurrent long-request limit
    (`ConcurrentPerOrgLongTxn Limit exceeded.`) clears in seconds."""
    if code == "REQUEST_LIMIT_EXCEEDED":
        if "ConcurrentPerOrgLongTxn" in (message or ""):
            return CONCURRENT_LIMIT_RETRY_AFTER
        return RATE_LIMIT_RETRY_AFTER
    return TOO_MANY_REQUESTS_RETRY_AFTER


def classify_http(status: int | None, code: str | None) -> FailureClass:
    """The class of a whole HTTP answer (None: no answer at all)."""
    if code:
        cls = classify_code(code)
        if cls != "permanent":
            return cls
    if status is None:
        return "retryable"
    if status == 429:
        return "rate_limited"
    if status >= 500 or f"HTTP_{status}" in TRANSIENT_HTTP:
        return "retryable"
    return "permanent"


def http_code(status: int | None, code: str | None) -> str:
    """The code an operation records for a whole-call failure."""
    if code:
        return code
    return "CONNECTION_ERROR" if status is None else f"HTTP_{status}"


def failed_call(call: SalesforceCall, code: str, message: str) -> dict[str, OpOutcome]:
    """Every operation of `call` failed the same way (whole call refused, or never answered)."""
    outcome = OpOutcome(False, error=message, code=code)
    return dict.fromkeys(call.op_ids, outcome)


def not_attempted(call: SalesforceCall, reason: str) -> dict[str, OpOutcome]:
    """Operations not sent because an earlier call failed as a whole."""
    return failed_call(call, "NOT_ATTEMPTED", f"not sent: {reason}")


def graph_root_error(graph: Mapping[str, object]) -> tuple[str | None, str | None]:
    """(code, message) of the node that made a Composite Graph fail (not a halted one)."""
    response = graph.get("graphResponse")
    nodes = response.get("compositeResponse") if isinstance(response, Mapping) else None
    first: tuple[str | None, str | None] = (None, None)
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, Mapping) or int(node.get("httpStatusCode", 200)) < 300:
            continue
        body = node.get("body")
        items = body if isinstance(body, list) else [body]
        for item in items:
            if not isinstance(item, Mapping):
                continue
            code = item.get("errorCode") or item.get("statusCode")
            pair = (str(code) if code else None, str(item.get("message") or ""))
            if first == (None, None):
                first = pair
            if pair[0] not in HALTED_CODES:
                return pair
    return first


@dataclass(frozen=True)
class CallReport:
    """One call of an execution: what was sent and how the HTTP answer went."""

    kind: str
    path: str
    status: int | None  # HTTP status of the (main) request; None: no answer
    operations: int
    error: str | None = None  # code of a whole-call failure


@dataclass
class ExecutionResult:
    """Per-operation outcomes of `execute(calls)`, in execution order.

    `outcomes` feeds the audit trail; `verdict` / `error()` / `raise_for_failures()` tell the
    worker what to do once it has recorded them.
    """

    outcomes: dict[str, OpOutcome] = field(default_factory=dict)
    calls: list[CallReport] = field(default_factory=list)
    retry_after: float | None = None  # from a 429 Retry-After header, when one came

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values())

    @property
    def succeeded(self) -> list[str]:
        return [op for op, o in self.outcomes.items() if o.ok]

    @property
    def failures(self) -> dict[str, FailureClass]:
        """Failed op id -> its class."""
        return {op: classify_code(o.code) for op, o in self.outcomes.items() if not o.ok}

    def ids(self, cls: FailureClass) -> list[str]:
        return [op for op, c in self.failures.items() if c == cls]

    @property
    def verdict(self) -> Verdict:
        failures = self.failures
        if not failures:
            return "ok"
        roots = [c for c in failures.values() if c != "halted"]
        if roots and roots[0] == "permanent":
            return "permanent"
        if "rate_limited" in roots:
            return "rate_limited"
        return "retryable"

    def _root(self) -> tuple[str, OpOutcome] | None:
        failed = [(op, o) for op, o in self.outcomes.items() if not o.ok]
        for op, o in failed:
            if classify_code(o.code) != "halted":
                return op, o
        return failed[0] if failed else None

    def error(self) -> SyncError | None:
        """The domain error for the worker (None when every operation succeeded)."""
        root = self._root()
        if root is None:
            return None
        verdict = self.verdict
        failed = [(op, o) for op, o in self.outcomes.items() if not o.ok]
        shown = "; ".join(f"{op}: {o.code}: {o.error}" for op, o in failed[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        message = (
            f"{len(failed)} of {len(self.outcomes)} Salesforce operations failed "
            f"({verdict}): {shown}{more}"
        )
        todo = hints(o for _, o in failed)
        if todo:
            message += ". To fix: " + "; ".join(todo)
        code = root[1].code or "UNKNOWN"
        if verdict == "rate_limited":
            limited = [o for o in self.outcomes.values() if classify_code(o.code) == "rate_limited"]
            code = limited[0].code or code
            wait = self.retry_after
            if wait is None:
                wait = rate_limit_wait(code, limited[0].error)
            return RateLimitedError(message, kind=f"salesforce.{code}", retry_after=wait)
        if verdict == "retryable":
            return RetryableError(message, kind=f"salesforce.{code}")
        return PermanentError(message, kind=f"salesforce.{code}")

    def raise_for_failures(self) -> None:
        """Raise `error()` if any operation failed; call after recording the outcomes."""
        error = self.error()
        if error is not None:
            raise error

    def merge(self, outcomes: Mapping[str, OpOutcome], report: CallReport) -> None:
        self.outcomes.update(outcomes)
        self.calls.append(report)


def _node_calls(call: SalesforceCall, index: int) -> list[SalesforceCall] | None:
    """The nodes of graph `index` as calls with their own op ids, when each node's records can
    be told apart (None when merged operations make the split ambiguous)."""
    graphs = call.body.get("graphs") if isinstance(call.body, Mapping) else None
    if not isinstance(graphs, list) or index >= len(graphs):
        return None
    nodes = graphs[index].get("compositeRequest") if isinstance(graphs[index], Mapping) else None
    op_ids = call.record_op_ids[index]
    out: list[SalesforceCall] = []
    at = 0
    for node in nodes if isinstance(nodes, list) else []:
        body = node.get("body")
        url = str(node.get("url", ""))
        if "/composite/sobjects" in url and isinstance(body, Mapping):
            n = len(body.get("records") or [])
            kind: CallKind = "collection_upsert"
        else:
            n, kind = 1, "record_upsert"
        ids = tuple((op_id,) for op_id in op_ids[at : at + n])
        out.append(SalesforceCall(kind, str(node.get("method")), url, body, ids))
        at += n
    return out if at == len(op_ids) else None


def graph_outcomes(
    call: SalesforceCall, graphs: object, base: Mapping[str, OpOutcome]
) -> dict[str, OpOutcome]:
    """Per-operation outcomes of a Composite Graph. `base` comes from
    `outcomes.outcomes_for`; where each node's operations are known, every node is read like
    the request it wraps (record ids, created, a failed record inside a Collection node);
    otherwise a failed graph gives all its operations the error of the node that failed (not
    the PROCESSING_HALTED of a node rolled back with it)."""
    out = dict(base)
    answers = graphs if isinstance(graphs, list) else []
    for index, (op_ids, graph) in enumerate(zip(call.record_op_ids, answers, strict=False)):
        if not isinstance(graph, Mapping):
            continue
        response = graph.get("graphResponse")
        nodes = response.get("compositeResponse") if isinstance(response, Mapping) else None
        node_calls = _node_calls(call, index)
        if node_calls is not None and isinstance(nodes, list) and len(nodes) == len(node_calls):
            for node_call, node in zip(node_calls, nodes, strict=True):
                if isinstance(node, Mapping):
                    status = int(node.get("httpStatusCode", 500))
                    out.update(outcomes_for(node_call, status, node.get("body")))
            continue
        if graph.get("isSuccessful"):
            continue
        code, message = graph_root_error(graph)
        if code is None:
            continue
        for op_id in op_ids:
            out[op_id] = OpOutcome(False, error=message or "graph failed", code=code)
    return out


def with_update_ids(
    call: SalesforceCall, outcomes: Mapping[str, OpOutcome]
) -> dict[str, OpOutcome]:
    """Successful updates by Id answer 204 without a body: their record id is in the path.
    Applies to a REST update and to the updates inside a Composite."""
    out = dict(outcomes)
    for sub in (*call.subrequests, call):
        if sub.kind != "record_update":
            continue
        record_id = unquote(sub.path.rstrip("/").rsplit("/", 1)[-1])
        for op_id in sub.op_ids:
            found = out.get(op_id)
            if found is not None and found.ok and found.record_id is None:
                out[op_id] = replace(found, record_id=record_id, created=False)
    return out
