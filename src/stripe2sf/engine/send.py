"""Send: a wave's merged operations to Salesforce in as few calls as `domain.batch.calls` makes
of them (Collections, Composite, Bulk 2.0), and what Salesforce answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.operations import Operation
from stripe2sf.engine.ports import SalesforcePort


@dataclass(frozen=True)
class Sent:
    """Per-operation outcomes, the Retry-After Salesforce asked for, the error when nothing
    could be sent (no connection), and how many calls it took."""

    outcomes: Mapping[str, OpOutcome] = field(default_factory=dict)
    retry_after: float | None = None
    error: BaseException | None = None
    calls: int = 0


def api_version(salesforce: SalesforcePort) -> str:
    return f"v{salesforce.api_version.lstrip('v')}"


def send(salesforce: SalesforcePort, operations: Sequence[Operation], bulk_threshold: int) -> Sent:
    calls = batch(operations, api_version=api_version(salesforce), bulk_threshold=bulk_threshold)
    if not calls:
        return Sent()
    try:
        result = salesforce.execute(calls)
    except Exception as exc:  # no connection to Salesforce: nothing was sent
        return Sent(error=exc, calls=len(calls))
    return Sent(result.outcomes, result.retry_after, calls=len(calls))
