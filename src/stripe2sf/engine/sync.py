"""The sync handler: a wave of events through hydrate -> plan -> merge -> send -> map back.

All decisions are the domain's (`lookups_needed`, `plan`, `merge`, `batch`, `links`,
`records_from_plan`); this module moves answers between the boundaries and the planner, for
many events at once: every lookup round asks Salesforce one query per lookup kind for the
whole wave (`domain.lookup_batches`), the ledger and the email claims one transaction each,
Stripe concurrently (a bounded pool); every event is planned alone, and the wave's writes go
out together (`domain.merge`, `domain.batching`). Per-record outcomes (allOrNone false) then
decide per event: only the events whose own records failed are retried or dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import structlog

from stripe2sf.domain.audit import AuditRecord, OpOutcome, records_from_plan
from stripe2sf.domain.batching import SalesforceCall, batch
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext, parse_claim_key
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.lanes import settled_lane
from stripe2sf.domain.links import Link, learned, may_use_link, rows_for, stale
from stripe2sf.domain.lookup_batches import queries, split, this_round
from stripe2sf.domain.lookups import context_for, lookups_needed
from stripe2sf.domain.merge import (
    Merged,
    absent_records,
    mark_unchanged,
    merge,
    outcomes_of,
    record_key,
    written_by,
)
from stripe2sf.domain.operations import Plan
from stripe2sf.domain.paths import id_of
from stripe2sf.domain.planner import plan
from stripe2sf.domain.pools import STRIPE_THREADS  # concurrent Stripe reads of one wave
from stripe2sf.domain.sf_results import ExecutionResult
from stripe2sf.domain.subjects import customer_id_for, fresh_charge
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.email_claims import EmailClaims
from stripe2sf.store.inbox import Applied, Failed, Moved, StoredEvent
from stripe2sf.store.ledger import Ledger
from stripe2sf.store.links import Links

log = structlog.get_logger(__name__)

MAX_LOOKUP_ROUNDS = 8
MAX_COMPOSITE_QUERIES = 5  # queries per Composite call (`SalesforceClient.query_many`)


class StripePort(Protocol):
    def answer(self, lookup: Lookup) -> Any: ...


class SalesforceResult(Protocol):
    """What the Salesforce boundary answers for a list of calls."""

    @property
    def outcomes(self) -> Mapping[str, OpOutcome]: ...

    @property
    def retry_after(self) -> float | None: ...

    def raise_for_failures(self) -> None: ...


class SalesforcePort(Protocol):
    api_version: str

    def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    def query_many(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]: ...

    def execute(self, calls: Sequence[SalesforceCall]) -> SalesforceResult: ...


class Executed(NamedTuple):
    """A plan sent to Salesforce: the answer (None when there was nothing to send), each
    operation's outcome, the audit records, and how many calls it took."""

    result: SalesforceResult | None
    outcomes: Mapping[str, OpOutcome]
    records: list[AuditRecord]
    calls: int


@dataclass
class Hydrated:
    """A wave's contexts, the events that failed while reading, and what it cost."""

    contexts: list[PlanContext]
    failed: dict[int, BaseException] = field(default_factory=dict)
    linked: set[str] = field(default_factory=set)  # customers answered from remembered links
    calls: int = 0  # Salesforce calls
    links: dict[str, Link | None] = field(default_factory=dict)  # read once per wave


def _calls_for_queries(n: int) -> int:
    return n if n <= 1 else -(-n // MAX_COMPOSITE_QUERIES)


class SyncHandler:
    """The handler registered for every event type stripe2sf syncs."""

    def __init__(
        self,
        config: SyncConfig,
        stripe: StripePort,
        salesforce: SalesforcePort,
        ledger: Ledger,
        audit: AuditTrail,
        bulk_threshold: int = 2000,
        claims: EmailClaims | None = None,
        links: Links | None = None,
    ) -> None:
        self.config = config
        self.stripe = stripe
        self.salesforce = salesforce
        self.ledger = ledger
        self.audit = audit
        self.bulk_threshold = bulk_threshold
        self.claims = claims or EmailClaims(ledger.engine)
        self.links = links or Links(ledger.engine)
        self._names = context_for(config).names

    # -- hydrate ---------------------------------------------------------------------------

    def hydrate(self, view: EventView) -> PlanContext:
        """Answer one event's lookups until it needs nothing more."""
        found = self.hydrate_many([view])
        if 0 in found.failed:
            raise found.failed[0]
        return found.contexts[0]

    def hydrate_many(self, views: Sequence[EventView]) -> Hydrated:
        """Answer every event's lookups, round by round, each round for all events at once."""
        out = Hydrated([context_for(self.config) for _ in views])
        pending = set(range(len(views)))
        for _ in range(MAX_LOOKUP_ROUNDS):
            needed: dict[int, list[Lookup]] = {}
            for i in sorted(pending):
                ctx = out.contexts[i]
                asked = [
                    x
                    for x in lookups_needed(views[i], self.config, ctx)
                    if not ctx.has(x.kind, x.key)
                ]
                if asked:
                    needed[i] = asked
            pending = set(needed)
            if not pending:
                return out
            now = set(this_round([x for i in sorted(needed) for x in needed[i]]))
            needed = {i: [x for x in asked if x in now] for i, asked in needed.items()}
            fresh = {x for i in needed if not may_use_link(views[i].type) for x in needed[i]}
            answers, errors = self._answer_round(
                [x for i in sorted(needed) for x in needed[i]], out, fresh
            )
            for i, asked in needed.items():
                error = next((errors[x] for x in asked if x in errors), None)
                if error is not None:
                    out.failed[i] = error
                    pending.discard(i)
                    continue
                out.contexts[i] = out.contexts[i].with_results({x: answers[x] for x in asked})
        for i in pending:
            out.failed[i] = RuntimeError(
                f"lookups for {views[i].id} did not settle in {MAX_LOOKUP_ROUNDS} rounds"
            )
        return out

    def _answer_round(
        self, asked: Sequence[Lookup], out: Hydrated, fresh: set[Lookup]
    ) -> tuple[dict[Lookup, Any], dict[Lookup, BaseException]]:
        answers: dict[Lookup, Any] = {}
        errors: dict[Lookup, BaseException] = {}
        unique = list(dict.fromkeys(asked))
        ledger_keys = [x.key for x in unique if x.kind == LookupKind.LEDGER]
        if ledger_keys:
            stamps = self.ledger.timestamps(ledger_keys)
            answers.update({x: stamps.get(x.key) for x in unique if x.kind == LookupKind.LEDGER})
        remembered = [x for x in unique if x.kind == LookupKind.LINKED]
        if remembered:
            links = self._links(out, {x.key for x in remembered})
            answers.update({x: bool((link := links[x.key]) and link.complete) for x in remembered})
        claims = [x for x in unique if x.kind == LookupKind.EMAIL_CLAIM]
        if claims:  # in wave order: the first customer asking for a free email holds it
            holders = self.claims.claim_many(parse_claim_key(x.key) for x in claims)
            answers.update({x: holders[parse_claim_key(x.key)] for x in claims})
        salesforce = [x for x in unique if x.is_salesforce]
        salesforce = self._from_links(salesforce, answers, out, fresh)
        stripe = [x for x in unique if x.is_stripe]
        with ThreadPoolExecutor(max(1, min(STRIPE_THREADS, len(stripe)))) as pool:
            futures = {x: pool.submit(self.stripe.answer, x) for x in stripe}
            self._answer_salesforce(salesforce, answers, errors, out)
            for x, future in futures.items():
                try:
                    answers[x] = future.result()
                except Exception as exc:  # this event waits; the others go on
                    errors[x] = exc
        return answers, errors

    def _links(self, out: Hydrated, customer_ids: set[str]) -> dict[str, Link | None]:
        """The remembered links of these customers, each read once per wave (the `LINKED`
        lookup and the Account/Contact lookups of a later round ask for the same rows)."""
        missing = customer_ids - out.links.keys()
        if missing:
            found = self.links.known(missing)
            out.links.update({c: found.get(c) for c in missing})
        return {c: out.links[c] for c in customer_ids}

    def _from_links(
        self, asked: list[Lookup], answers: dict[Lookup, Any], out: Hydrated, fresh: set[Lookup]
    ) -> list[Lookup]:
        """Answer the Account and Contact lookups of linked customers from the links table;
        the Salesforce lookups still to run."""
        kinds = (LookupKind.SF_ACCOUNT_BY_CUSTOMER, LookupKind.SF_CONTACT_BY_CUSTOMER)
        wanted = {x.key for x in asked if x.kind in kinds and x not in fresh}
        known = {c: link for c, link in self._links(out, wanted).items() if link and link.complete}
        rest = []
        for x in asked:
            link = known.get(x.key) if x.kind in kinds and x not in fresh else None
            if link is None:
                rest.append(x)
                continue
            account, contact = rows_for(x.key, link, self._names)
            answers[x] = [account if x.kind == LookupKind.SF_ACCOUNT_BY_CUSTOMER else contact]
            out.linked.add(x.key)
        return rest

    def _answer_salesforce(
        self,
        asked: Sequence[Lookup],
        answers: dict[Lookup, Any],
        errors: dict[Lookup, BaseException],
        out: Hydrated,
    ) -> None:
        if not asked:
            return
        planned = queries(asked, self._names)
        out.calls += _calls_for_queries(len(planned))
        try:
            results = self.salesforce.query_many([q.soql for q in planned])
        except Exception as exc:  # the whole round failed: every event that asked waits
            errors.update(dict.fromkeys(asked, exc))
            return
        for query, rows in zip(planned, results, strict=True):
            answers.update(split(query, rows, self._names))

    # -- plan, merge, send -------------------------------------------------------------------

    def plan_event(self, payload: Mapping[str, Any]) -> Plan:
        view = parse_event(payload)
        return plan(view, self.hydrate(view), self.config)

    def _api_version(self) -> str:
        return f"v{self.salesforce.api_version.lstrip('v')}"

    def execute_plan(self, the_plan: Plan) -> Executed:
        """Send one plan as it is (a reconcile repair), and turn the outcomes into audit
        records. What it writes is no longer compared with earlier writes."""
        calls = batch(
            the_plan.operations, api_version=self._api_version(), bulk_threshold=self.bulk_threshold
        )
        result = self.salesforce.execute(calls) if calls else None
        outcomes = result.outcomes if result is not None else {}
        self.links.forget_written(record_key(op) for op in the_plan.operations)
        records = records_from_plan(
            the_plan,
            outcomes,
            at=datetime.now(UTC).isoformat(),
            customer_id=the_plan.customer_id,
        )
        return Executed(result, outcomes, records, len(calls))

    def apply_batch(self, events: Sequence[StoredEvent]) -> list[Applied | Moved | Failed]:
        """Apply a wave (at most one event per lane); one answer per event, in order."""
        results: dict[int, Applied | Moved | Failed] = {}
        views: dict[int, EventView] = {}
        for i, event in enumerate(events):
            try:
                views[i] = parse_event(event.payload)
            except Exception as exc:
                results[i] = Failed(exc)
        order = sorted(views)
        hydrated = self.hydrate_many([views[i] for i in order])
        contexts: dict[int, PlanContext] = {}
        for n, i in enumerate(order):
            if n in hydrated.failed:
                results[i] = Failed(hydrated.failed[n])
            else:
                contexts[i] = hydrated.contexts[n]
        plans: dict[int, Plan] = {}
        for i, ctx in contexts.items():
            view = views[i]
            try:
                charge = fresh_charge(view, ctx)
                lane = settled_lane(
                    events[i].lane, customer_id_for(view, ctx), id_of(charge) if charge else None
                )
                if lane is not None:
                    results[i] = Moved(lane)
                    continue
                plans[i] = plan(view, ctx, self.config)
            except Exception as exc:
                results[i] = Failed(exc)
        ops = [op for p in plans.values() for op in p.operations]
        written = self.links.written(record_key(op) for op in ops) if ops else {}
        for i, the_plan in plans.items():
            for key in absent_records(contexts[i], the_plan.customer_id, self._names):
                written.pop(key, None)
        merged = merge(sorted(plans.items()), written)
        calls = batch(
            merged.operations, api_version=self._api_version(), bulk_threshold=self.bulk_threshold
        )
        outcomes: Mapping[str, OpOutcome] = {}
        retry_after: float | None = None
        error: BaseException | None = None
        if calls:
            try:
                result = self.salesforce.execute(calls)
                outcomes, retry_after = result.outcomes, result.retry_after
            except Exception as exc:  # no connection to Salesforce: nothing was sent
                error = exc
        self.links.remember_written(written_by(merged.operations, outcomes))
        total_calls = hydrated.calls + len(calls)
        results.update(
            self._map_back(
                events, contexts, plans, merged, outcomes, retry_after, error, hydrated.linked
            )
        )
        for i in sorted(plans):
            log.info(
                "event_synced",
                event_id=events[i].event_id,
                operations=len(plans[i].operations),
                calls=total_calls,  # every Salesforce call of its wave, reads and writes
                wave=len(events),
                refusals=len(plans[i].refusals),
                ok=isinstance(results[i], Applied),
            )
        return [results[i] for i in range(len(events))]

    def _map_back(
        self,
        events: Sequence[StoredEvent],
        contexts: Mapping[int, PlanContext],
        plans: Mapping[int, Plan],
        merged: Merged,
        outcomes: Mapping[str, OpOutcome],
        retry_after: float | None,
        error: BaseException | None,
        linked: set[str],
    ) -> dict[int, Applied | Failed]:
        """Each planned event's own outcomes decide for it; links learned or gone."""
        at = datetime.now(UTC).isoformat()
        results: dict[int, Applied | Failed] = {}
        learned_links: dict[str, Link] = {}
        gone_links: set[str] = set()
        for i, the_plan in plans.items():
            own = outcomes_of(i, the_plan, outcomes, merged)
            records = mark_unchanged(
                records_from_plan(the_plan, own, at=at, customer_id=the_plan.customer_id),
                the_plan,
                own,
            )
            cid = the_plan.customer_id
            if error is not None and len(own) < len(the_plan.operations):
                results[i] = Failed(error, records)
                continue
            failed = ExecutionResult(outcomes=dict(own), retry_after=retry_after).error()
            if failed is None:
                link = learned(cid, contexts[i], the_plan.operations, own, self._names)
                if cid and link is not None:
                    learned_links[cid] = link.over(learned_links.get(cid))
                results[i] = Applied(ledger_updates=the_plan.ledger_updates, audit_records=records)
                continue
            if cid is not None and cid in linked and stale(own, isinstance(failed, PermanentError)):
                # A remembered record may be gone (deleted, merged): read again.
                gone_links.add(cid)
                failed = RetryableError(
                    f"a linked Salesforce record of {cid} is gone; planned again from fresh "
                    f"reads ({failed})",
                    kind="salesforce.link_gone",
                )
            results[i] = Failed(failed, records)
        self.links.remember({c: x for c, x in learned_links.items() if c not in gone_links})
        if gone_links:
            self.links.forget(gone_links)
            self.links.forget_written(  # what was written to them is gone with them
                f"{sobject}|{self._names.customer_id}|{c}"
                for c in gone_links
                for sobject in ("Account", "Contact")
            )
        return results

    def __call__(self, event: StoredEvent) -> Applied | Moved:
        """One event alone (a wave of one); a failure is recorded in the audit trail and
        raised, as the per-event handlers do."""
        [answer] = self.apply_batch([event])
        if isinstance(answer, Failed):
            if answer.audit_records:
                self.audit.add(answer.audit_records)
            raise answer.error
        return answer
