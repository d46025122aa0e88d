"""Map back: each planned event's own outcomes decide for it (allOrNone false: only the events
whose own records failed are retried or dead-lettered), with the links its writes taught and
the links Salesforce says are gone. No I/O: the sync handler stores the links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stripe2sf.domain.audit import records_from_plan
from stripe2sf.domain.batch.merge import Merged, mark_unchanged, outcomes_of
from stripe2sf.domain.batch.org_rules import explained
from stripe2sf.domain.batch.results import ExecutionResult
from stripe2sf.domain.context import FieldNames, PlanContext
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.domain.matching.links import Link, learned, stale
from stripe2sf.domain.operations import Plan
from stripe2sf.engine.send import Sent
from stripe2sf.store.inbox import Applied, Failed


@dataclass
class MappedBack:
    results: dict[int, Applied | Failed] = field(default_factory=dict)
    learned: dict[str, Link] = field(default_factory=dict)  # customer -> what its writes taught
    gone: set[str] = field(default_factory=set)  # customers whose remembered records are gone


def map_back(
    contexts: Mapping[int, PlanContext],
    plans: Mapping[int, Plan],
    merged: Merged,
    sent: Sent,
    linked: set[str],
    names: FieldNames,
) -> MappedBack:
    at = datetime.now(UTC).isoformat()
    out = MappedBack()
    for i, the_plan in plans.items():
        own = outcomes_of(i, the_plan, sent.outcomes, merged)
        records = mark_unchanged(
            records_from_plan(the_plan, own, at=at, customer_id=the_plan.customer_id),
            the_plan,
            own,
        )
        cid = the_plan.customer_id
        if sent.error is not None and len(own) < len(the_plan.operations):
            out.results[i] = Failed(sent.error, records)
            continue
        failed = ExecutionResult(outcomes=dict(own), retry_after=sent.retry_after).error()
        if failed is not None:  # a validation rule or required field: said as what it is
            failed = explained(failed, own, the_plan.operations)
        if failed is None:
            link = learned(cid, contexts[i], the_plan.operations, own, names)
            if cid and link is not None:
                out.learned[cid] = link.over(out.learned.get(cid))
            out.results[i] = Applied(ledger_updates=the_plan.ledger_updates, audit_records=records)
            continue
        if cid is not None and cid in linked and stale(own, isinstance(failed, PermanentError)):
            # A remembered record may be gone (deleted, merged): read again.
            out.gone.add(cid)
            failed = RetryableError(
                f"a linked Salesforce record of {cid} is gone; planned again from fresh "
                f"reads ({failed})",
                kind="salesforce.link_gone",
            )
        out.results[i] = Failed(failed, records)
    for cid in out.gone:
        out.learned.pop(cid, None)
    return out
