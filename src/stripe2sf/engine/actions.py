"""The Salesforce actions handler: an Opportunity reaching its stage, or a `Stripe_Request__c`
record, made into Stripe objects once, the result written back to the record.

    filter     `domain.actions.subjects.may_act`: from the change alone (no read)
    read       the record as Salesforce has it now (one SOQL; CDC updates carry only the
               changed fields) -> a `Subject`, or a skip (wrong stage, already done)
    steps      `domain.actions.steps.next_step` until done: each Stripe request with its
               idempotency key, its answer stored at once (`store.actions`); a new customer
               is written on its Account (and remembered in `store.links`) before any other
               step, so its `customer.created` event links that Account, never a new one
    write back ids, status and URLs, or the readable error, on the record; a refused action
               is dead-lettered with the same reason (5xx, 429, outages are retried)

Events of one record share a lane (`sf:<Id>`), so one action runs at a time per record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from stripe2sf import metrics
from stripe2sf.domain.actions import steps as action_steps
from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.actions.steps import Done, Failure, LinkAccount, StripeCall, next_step
from stripe2sf.domain.actions.subjects import (
    CUSTOMER_FIELD,
    OPPORTUNITY,
    REQUEST,
    Skip,
    Subject,
    choose_contact,
    contact_roles_soql,
    contacts_soql,
    lines_soql,
    may_act,
    opportunity_skip,
    opportunity_soql,
    opportunity_subject,
    request_soql,
    request_subject,
)
from stripe2sf.domain.audit import AuditRecord, records_from_plan
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.capture.change import SalesforceChange, parse_change
from stripe2sf.domain.errors import PermanentError
from stripe2sf.domain.matching.links import Link
from stripe2sf.domain.operations import Operation, Plan
from stripe2sf.engine.ports import SalesforcePort
from stripe2sf.engine.send import api_version
from stripe2sf.store.actions import DONE, ERROR, RUNNING, ActionLog, ActionState
from stripe2sf.store.inbox import Applied, Failed, StoredEvent
from stripe2sf.store.links import Links
from stripe2sf.stripe.actions import StripeActions, StripeKeyReused, StripeRefused

log = structlog.get_logger(__name__)

ACTION_TYPES = (
    "salesforce.Opportunity.created",
    "salesforce.Opportunity.updated",
    "salesforce.Opportunity.undeleted",
    "salesforce.Stripe_Request__c.created",
)
MAX_STEPS = 20  # a guard: an action has at most 8, and 2 more per product


class ActionRefused(PermanentError):
    """The action cannot be done with this data; the reason was written back to the record."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="action.refused")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ActionHandler:
    def __init__(
        self,
        config: ActionsConfig,
        stripe: StripeActions,
        salesforce: SalesforcePort,
        actions: ActionLog,
        links: Links,
    ) -> None:
        self.config = config
        self.stripe = stripe
        self.salesforce = salesforce
        self.actions = actions
        self.links = links

    # -- the worker's entry points ------------------------------------------------------

    def apply_batch(self, events: Sequence[StoredEvent]) -> list[Applied | Failed]:
        return [self.apply(event) for event in events]

    def __call__(self, event: StoredEvent) -> Applied:
        answer = self.apply(event)
        if isinstance(answer, Failed):
            raise answer.error
        return answer

    def apply(self, event: StoredEvent) -> Applied | Failed:
        records: list[AuditRecord] = []
        try:
            change = parse_change(event.payload)
            if not may_act(change, self.config):
                return Applied()
            found = self._subject(change)
            if isinstance(found, Skip):
                log.info("action_skipped", event_id=event.event_id, reason=found.reason)
                return Applied()
            return self._run(event, found, records)
        except Exception as exc:
            return Failed(exc, records)

    # -- reading ----------------------------------------------------------------------------

    def _subject(self, change: SalesforceChange) -> Subject | Skip:
        if change.entity == OPPORTUNITY:
            rows = self.salesforce.query_all(opportunity_soql(self.config, change.record_id))
            if not rows:
                return Skip("deleted")
            skip = opportunity_skip(rows[0], self.config)
            if skip is not None:
                return skip  # no read of its products
            lines: list[dict[str, Any]] = []
            if self.config.uses_products:
                lines = self.salesforce.query_all(lines_soql(self.config, change.record_id))
            return opportunity_subject(rows[0], self.config, lines)
        rows = self.salesforce.query_all(request_soql(change.record_id))
        return request_subject(rows[0], self.config) if rows else Skip("deleted")

    def _contact(self, subject: Subject) -> tuple[str | None, str] | None:
        """(Contact Id, email) of the new customer: the Opportunity's primary contact role,
        else its first with an email, else the Account's oldest Contact with one."""
        roles: list[dict[str, Any]] = []
        if subject.opportunity_id:
            roles = self.salesforce.query_all(contact_roles_soql(subject.opportunity_id))
        found = choose_contact(roles, account_id=subject.account_id)
        if found is None and subject.account_id:
            contacts = self.salesforce.query_all(contacts_soql(subject.account_id))
            found = choose_contact((), contacts, subject.account_id)
        return found

    # -- the steps --------------------------------------------------------------------------

    def _run(self, event: StoredEvent, subject: Subject, records: list[AuditRecord]) -> Applied:
        state = self.actions.get(subject.scope) or ActionState(subject.scope, subject.kind)
        if state.state == DONE:
            return Applied()  # its write-back is done too (stored after it)
        for listed in [
            k for k in state.steps if k.startswith("draft_items") or action_steps.is_item_step(k)
        ]:
            del state.steps[listed]  # read the draft again: a try that died may have added to it
        if state.state == ERROR:  # changed again after the error was written back: try again
            state.generation += 1
            state.state, state.error, state.error_event = RUNNING, None, None
            self.actions.save(state)
        email: str | None = None
        contact_id: str | None = None
        needs_customer = subject.kind != "payment_link" and subject.customer_id is None
        if needs_customer and "link" not in state.steps and not subject.problem:
            contact_id, email = self._contact(subject) or (None, None)
        price_field = self.config.price_field if subject.sobject == OPPORTUNITY else "Price_Id__c"
        for _ in range(MAX_STEPS + 4 * len(subject.billed)):
            step = next_step(
                subject,
                state.steps,
                self.config,
                email=email,
                contact_id=contact_id,
                generation=state.generation,
                price_field=price_field,
            )
            if isinstance(step, StripeCall):
                refused = self._call(subject, step, state, event.event_id, records, price_field)
                if refused is not None:
                    step = Failure(refused)
            elif isinstance(step, LinkAccount):
                self._link(step, event.event_id, records)
                state.steps["link"] = {"account_id": step.account_id, "contact_id": step.contact_id}
                self.actions.save(state)
                continue
            if isinstance(step, Failure):
                self._write_back(subject, action_steps.failed_results(step.reason), event, records)
                state.state, state.error, state.error_event = ERROR, step.reason, event.event_id
                self.actions.save(state)
                metrics.action_outcome(subject.kind, "refused")
                log.warning("action_refused", record_id=subject.record_id, reason=step.reason)
                raise ActionRefused(f"{subject.sobject} {subject.record_id}: {step.reason}")
            if isinstance(step, Done):
                self._write_back(subject, step.results, event, records)
                state.state = DONE
                self.actions.save(state)
                metrics.action_outcome(subject.kind, "done")
                log.info(
                    "action_done",
                    record_id=subject.record_id,
                    kind=subject.kind,
                    status=step.results.get("status"),
                )
                return Applied(audit_records=records)
        raise RuntimeError(f"action {subject.scope} did not finish in {MAX_STEPS} steps")

    def _call(
        self,
        subject: Subject,
        call: StripeCall,
        state: ActionState,
        event_id: str,
        records: list[AuditRecord],
        price_field: str,
    ) -> str | None:
        """Send one Stripe request and store what it made; a refusal's readable reason."""
        try:
            answer = self.stripe.send(call)
        except StripeKeyReused as exc:
            records.append(self._stripe_record(call, event_id, None, str(exc)))
            return (
                f"the record changed while stripe2sf was making its Stripe {call.step} (Stripe "
                "refused the same request with other values); save the record again to retry"
            )
        except StripeRefused as exc:
            if call.step == "finalize" and exc.code == "invoice_not_editable":
                # finalized by an earlier try whose key Stripe no longer remembers
                invoice_id = call.path.split("/")[3]
                answer = self.stripe.send(
                    StripeCall("finalize", "get", f"/v1/invoices/{invoice_id}")
                )
            else:
                customer = subject.customer_id or (state.steps.get("customer") or {}).get("id")
                records.append(self._stripe_record(call, event_id, None, str(exc)))
                return action_steps.readable_stripe_error(
                    call,
                    subject,
                    code=exc.code,
                    message=str(exc),
                    param=exc.param,
                    customer_id=customer,
                    price_field=price_field,
                )
        if action_steps.is_price_step(call.step):
            price_id = call.path.rsplit("/", 1)[-1]
            answer = answer or {"id": price_id, "missing": True}
            kept = action_steps.kept(call.step, answer)
            kept["id"], kept["missing"] = price_id, bool(answer.get("missing"))
        else:
            kept = action_steps.kept(call.step, answer or {})
        state.steps[call.step] = kept
        self.actions.save(state)
        if call.method != "get":
            records.append(self._stripe_record(call, event_id, kept.get("id"), None))
        return None

    def _stripe_record(
        self, call: StripeCall, event_id: str, stripe_id: Any, error: str | None
    ) -> AuditRecord:
        return AuditRecord(
            at=_now(),
            event_id=event_id,
            action="stripe_delete" if call.method == "delete" else "stripe_create",
            outcome="error" if error else "ok",
            sobject=f"stripe.{call.step}",
            external_id=str(stripe_id) if stripe_id else call.idempotency_key,
            fields=tuple(sorted(call.params)),
            error=error,
        )

    # -- Salesforce writes ------------------------------------------------------------------

    def _execute(self, plan: Plan, records: list[AuditRecord]) -> None:
        calls = batch(plan.operations, api_version=api_version(self.salesforce))
        result = self.salesforce.execute(calls)
        records.extend(records_from_plan(plan, result.outcomes, at=_now()))
        result.raise_for_failures()

    def _link(self, link: LinkAccount, event_id: str, records: list[AuditRecord]) -> None:
        """The new customer's id on its Account and on the Contact it was made from, and in
        the links the sync reads (so the customer's own events find both, not new ones)."""
        ops = [
            Operation(
                "link",
                "update",
                "Account",
                "Id",
                link.account_id,
                {CUSTOMER_FIELD: link.customer_id},
                reason="the Stripe customer made for this Account by a Salesforce action",
            )
        ]
        if link.contact_id:
            ops.append(
                Operation(
                    "link_contact",
                    "update",
                    "Contact",
                    "Id",
                    link.contact_id,
                    {CUSTOMER_FIELD: link.customer_id},
                    reason="the Contact whose email the Stripe customer was made with",
                )
            )
        plan = Plan(event_id, "action.link", tuple(ops), customer_id=link.customer_id)
        self._execute(plan, records)
        self.links.remember(
            {link.customer_id: Link(account_id=link.account_id, contact_id=link.contact_id)}
        )

    def _write_back(
        self,
        subject: Subject,
        results: Mapping[str, str],
        event: StoredEvent,
        records: list[AuditRecord],
    ) -> None:
        fields = {
            subject.result_fields[name]: (value or None)
            for name, value in results.items()
            if name in subject.result_fields
        }
        op = Operation(
            "result",
            "update",
            subject.sobject,
            "Id",
            subject.record_id,
            fields,
            reason=f"the result of the Stripe {subject.kind.replace('_', ' ')} action",
        )
        plan = Plan(event.event_id, event.type, (op,), customer_id=results.get("customer_id"))
        self._execute(plan, records)


def action_types(config: ActionsConfig) -> tuple[str, ...]:
    """The inbox event types the handler is registered for."""
    if not config.enabled:
        return ()
    return tuple(t for t in ACTION_TYPES if config.requests or REQUEST not in t)
