"""The sync handler: a wave of events through hydrate -> plan -> merge -> send -> map back.

    hydrate   `engine.hydrate`: every event's lookups, round by round, for the whole wave
    plan      `domain.flows.planner.plan`, each event alone (or moved to its charge's lane)
    merge     `domain.batch.merge`: the wave's operations in order, unchanged writes left out
    send      `engine.send`: as few Salesforce calls as `domain.batch.calls` makes of them
    map back  `engine.map_back`: per-event answers from per-record outcomes; links learned
              or gone, what was written remembered (`store.links`)
    again     events whose customer's Account or Contact a duplicate rule refused to create
              go through once more, knowing what it matched (`domain.matching.duplicates`)

The worker (`engine.worker`) claims the lanes, cuts them into waves and records the answers.
All decisions are the domain's; this module moves answers between the boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import structlog

from stripe2sf.domain.audit import AuditRecord, OpOutcome, records_from_plan
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.batch.lanes import settled_lane
from stripe2sf.domain.batch.merge import (
    absent_records,
    customer_record_key,
    merge,
    outcomes_of,
    record_key,
    written_by,
)
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import PlanContext
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.flows.lookups import context_for
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.flows.subjects import customer_id_for, fresh_charge
from stripe2sf.domain.matching import duplicates
from stripe2sf.domain.matching.duplicates import DuplicateReport, RefusedCreate, refused_creates
from stripe2sf.domain.operations import Plan
from stripe2sf.domain.paths import id_of
from stripe2sf.engine.hydrate import Hydrator
from stripe2sf.engine.map_back import map_back
from stripe2sf.engine.org_profile import org_config
from stripe2sf.engine.ports import SalesforcePort, SalesforceResult, StripePort
from stripe2sf.engine.send import api_version, send
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.email_claims import EmailClaims
from stripe2sf.store.inbox import Applied, Failed, Moved, StoredEvent
from stripe2sf.store.ledger import Ledger
from stripe2sf.store.links import Links

log = structlog.get_logger(__name__)


class Executed(NamedTuple):
    """A plan sent to Salesforce: the answer (None when there was nothing to send), each
    operation's outcome, the audit records, and how many calls it took."""

    result: SalesforceResult | None
    outcomes: Mapping[str, OpOutcome]
    records: list[AuditRecord]
    calls: int


class _Wave(NamedTuple):
    """What one pass over some events of a wave planned and what each plan's writes got."""

    plans: dict[int, Plan]
    outcomes: dict[int, dict[str, OpOutcome]]
    calls: int
    operations: int
    sent: int


def _after(
    earlier: Applied | Moved | Failed, later: Applied | Moved | Failed
) -> Applied | Moved | Failed:
    """An event's answer after it was planned again: the later one, with the audit records of
    the earlier attempt first (the create a duplicate rule refused, and the rule's name)."""
    before = earlier.audit_records if not isinstance(earlier, Moved) else ()
    if isinstance(later, Applied):
        return Applied(later.ledger_updates, [*before, *later.audit_records])
    if isinstance(later, Failed):
        return Failed(later.error, [*before, *later.audit_records])
    return later


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
        self.stripe = stripe  # its `calls` are the process's Stripe requests (metrics)
        self.salesforce = salesforce
        self.audit = audit
        self.bulk_threshold = bulk_threshold
        self.links = links or Links(ledger.engine)
        self.hydrator = Hydrator(
            config, stripe, salesforce, ledger, claims or EmailClaims(ledger.engine), self.links
        )
        self._names = context_for(config).names
        self._org_read = False

    def org_config(self) -> SyncConfig:
        """The configuration with its `[org]` "auto" settings decided from the org, once (on
        first use: the connection is made then). The Salesforce -> Stripe handler asks it
        too: a person-account org's changes carry the person fields."""
        if not self._org_read:
            self.config = org_config(self.config, self.salesforce)
            self.hydrator.config = self.config
            # the rows read now say more (person accounts: IsPersonAccount, PersonContactId)
            self._names = self.hydrator._names = context_for(self.config).names
            self._org_read = True
        return self.config

    def hydrate(self, view: EventView) -> PlanContext:
        """Answer one event's lookups until it needs nothing more."""
        found = self.hydrator.hydrate_many([view])
        if 0 in found.failed:
            raise found.failed[0]
        return found.contexts[0]

    def plan_event(self, payload: Mapping[str, Any]) -> Plan:
        self.org_config()
        view = parse_event(payload)
        return plan(view, self.hydrate(view), self.config)

    def execute_plan(self, the_plan: Plan) -> Executed:
        """Send one plan as it is (a reconcile repair), and turn the outcomes into audit
        records. What it writes is no longer compared with earlier writes."""
        calls = batch(
            the_plan.operations,
            api_version=api_version(self.salesforce),
            bulk_threshold=self.bulk_threshold,
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

    def apply_document(self, payload: Mapping[str, Any]) -> tuple[Plan, Executed]:
        """Plan an event document and send it as one plan (a reconcile repair); planned again
        at once when a duplicate rule refuses to create its customer's Account or Contact, as
        a wave is. Returns the last plan, and what was sent with every attempt's audit
        records."""
        self.org_config()
        view = parse_event(payload)
        the_plan = plan(view, self.hydrate(view), self.config)
        executed = self.execute_plan(the_plan)
        records = list(executed.records)
        calls = executed.calls
        reports: dict[str, DuplicateReport] = {}
        for _ in range(duplicates.MAX_PASSES):
            cid = the_plan.customer_id
            refused = refused_creates(the_plan, executed.outcomes, self._names.customer_id)
            if cid is None or not refused or any(r.report.sobject in reports for r in refused):
                break
            for found in refused:
                report = found.report if found.report.detailed else self._ask_alone(found)
                if report is not None:
                    reports[found.op.sobject] = report
            seed = duplicates.seeded(context_for(self.config), reports.values(), cid)
            hydrated = self.hydrator.hydrate_many([view], [seed])
            if 0 in hydrated.failed:
                raise hydrated.failed[0]
            the_plan = plan(view, hydrated.contexts[0], self.config)
            executed = self.execute_plan(the_plan)
            records += executed.records
            calls += executed.calls
        return the_plan, executed._replace(records=records, calls=calls)

    def apply_batch(self, events: Sequence[StoredEvent]) -> list[Applied | Moved | Failed]:
        """Apply a wave (one or more consecutive events of each lane, in lane order); one
        answer per event, in order. Events whose customer's Account or Contact a Salesforce
        duplicate rule refused to create are planned again at once, knowing what it matched
        (`domain.matching.duplicates`)."""
        try:
            self.org_config()
        except Exception as exc:  # the org could not be read: every event waits for it
            return [Failed(exc) for _ in events]
        results: dict[int, Applied | Moved | Failed] = {}
        views: dict[int, EventView] = {}
        for i, event in enumerate(events):
            try:
                views[i] = parse_event(event.payload)
            except Exception as exc:
                results[i] = Failed(exc)
        wave = self._wave(events, views, {}, results)
        planned, calls = dict(wave.plans), wave.calls
        operations, sent_ops = wave.operations, wave.sent
        reports: dict[int, dict[str, DuplicateReport]] = {}
        for _ in range(duplicates.MAX_PASSES):
            seeds = self._refused_creates(wave, results, reports)
            if not seeds:
                break
            earlier = {i: results[i] for i in seeds}
            wave = self._wave(events, {i: views[i] for i in seeds}, seeds, results)
            for i, before in earlier.items():
                results[i] = _after(before, results[i])
            planned.update(wave.plans)
            calls += wave.calls
            operations += wave.operations
            sent_ops += wave.sent
        if planned:  # one line per wave: logging two lines per event was ~9 % of the worker's CPU
            log.info(
                "wave_synced",
                events=len(events),
                event_ids=[events[i].event_id for i in sorted(planned)],
                operations=operations,
                sent=sent_ops,
                calls=calls,  # every Salesforce call: reads and writes
                refusals=sum(len(p.refusals) for p in planned.values()),
                failed=sum(1 for i in planned if not isinstance(results[i], Applied)),
                duplicate_rules=len(reports) or None,
            )
        return [results[i] for i in range(len(events))]

    def _wave(
        self,
        events: Sequence[StoredEvent],
        views: Mapping[int, EventView],
        seeds: Mapping[int, PlanContext],
        results: dict[int, Applied | Moved | Failed],
    ) -> _Wave:
        """Hydrate, plan, merge, send and map back these events (``seeds``: contexts to start
        from); their answers go into ``results``."""
        # hydrate
        order = sorted(views)
        hydrated = self.hydrator.hydrate_many(
            [views[i] for i in order],
            [seeds[i] for i in order] if seeds else None,
        )
        contexts: dict[int, PlanContext] = {}
        for n, i in enumerate(order):
            if n in hydrated.failed:
                results[i] = Failed(hydrated.failed[n])
            else:
                contexts[i] = hydrated.contexts[n]
        # plan
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
        # merge
        ops = [op for p in plans.values() for op in p.operations]
        written = self.links.written(record_key(op) for op in ops) if ops else {}
        for i, the_plan in plans.items():
            for key in absent_records(contexts[i], the_plan.customer_id, self._names):
                written.pop(key, None)
        merged = merge(sorted(plans.items()), written)
        # send
        sent = send(self.salesforce, merged.operations, self.bulk_threshold)
        self.links.remember_written(written_by(merged.operations, sent.outcomes))
        # map back
        back = map_back(contexts, plans, merged, sent, hydrated.linked, self._names)
        self.links.remember(back.learned)
        if back.gone:
            self.links.forget(back.gone)
            self.links.forget_written(  # what was written to them is gone with them
                customer_record_key(sobject, c, self._names)
                for c in back.gone
                for sobject in ("Account", "Contact")
            )
        results.update(back.results)
        return _Wave(
            plans,
            {i: outcomes_of(i, p, sent.outcomes, merged) for i, p in plans.items()},
            hydrated.calls + sent.calls,
            sum(len(p.operations) for p in plans.values()),
            len(merged.operations),
        )

    def _refused_creates(
        self,
        wave: _Wave,
        results: Mapping[int, Applied | Moved | Failed],
        reports: dict[int, dict[str, DuplicateReport]],
    ) -> dict[int, PlanContext]:
        """The events to plan again because a duplicate rule refused to create their
        customer's Account or Contact, each with what Salesforce said (``reports``, kept
        across passes). A rule refusing again what was decided ends the event's passes: its
        failure stands. An answer naming no match (sObject Collections, Bulk) is asked again
        as one REST call, whose answer names it."""
        seeds: dict[int, PlanContext] = {}
        for i, the_plan in wave.plans.items():
            if not isinstance(results[i], Failed) or the_plan.customer_id is None:
                continue
            refused = refused_creates(the_plan, wave.outcomes[i], self._names.customer_id)
            known = reports.setdefault(i, {})
            if not refused or any(r.report.sobject in known for r in refused):
                if not known:
                    del reports[i]
                continue
            for found in refused:
                report = found.report if found.report.detailed else self._ask_alone(found)
                if report is not None:
                    known[found.op.sobject] = report
            seeds[i] = duplicates.seeded(
                context_for(self.config), known.values(), the_plan.customer_id
            )
        return seeds

    def _ask_alone(self, refused: RefusedCreate) -> DuplicateReport | None:
        """The refused create sent alone (a REST call names the records a rule matched);
        None when it is saved this time."""
        sent = send(self.salesforce, [refused.op], self.bulk_threshold)
        outcome = sent.outcomes.get(refused.op.op_id)
        if outcome is not None and outcome.ok:
            return None
        report = outcome.duplicates if outcome is not None else None
        if report is None:
            return refused.report
        return replace(report, sobject=refused.op.sobject)

    def __call__(self, event: StoredEvent) -> Applied | Moved:
        """One event alone (a wave of one); a failure is recorded in the audit trail and
        raised, as the per-event handlers do."""
        [answer] = self.apply_batch([event])
        if isinstance(answer, Failed):
            if answer.audit_records:
                self.audit.add(answer.audit_records)
            raise answer.error
        return answer
