"""Salesforce -> Stripe: captured Salesforce changes written to the linked Stripe customer.

    ReverseHandler   `salesforce.<Account|Contact>.<change>` inbox events (the capture's,
                     `domain.capture.change`): plan (`domain.reverse.plan`), find the customer
                     by the links stripe2sf keeps (no Salesforce read), read the customer from
                     Stripe, send only what differs with an idempotency key derived from the
                     change; audited as ``stripe.customer`` records, counted in metrics
    ConflictGuard    wraps the sync handler for customer.updated: a Stripe edit of a field
                     Salesforce owns is answered with Salesforce's value (`domain.reverse.
                     conflict`), audited "conflict: ... kept Salesforce's value"

Both go through the worker as every event does: lanes (the customer's), retries, dead letters
and the audit trail. A value Stripe refuses is a dead letter that says which Salesforce field
to correct.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from stripe2sf import metrics
from stripe2sf.domain.audit import AuditRecord
from stripe2sf.domain.capture.change import (
    CHANGE_KINDS,
    ChangeParseError,
    SalesforceChange,
    parse_change,
)
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import PermanentError, RetryableError, SyncError
from stripe2sf.domain.matching.links import Link
from stripe2sf.domain.reverse.config import SOURCE_OBJECTS
from stripe2sf.domain.reverse.conflict import contested, reassert
from stripe2sf.domain.reverse.plan import (
    ChangePlan,
    Skip,
    StripeUpdate,
    plan_change,
    targets,
    update_for,
)
from stripe2sf.domain.soql import quote
from stripe2sf.engine.ports import SalesforcePort
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.inbox import Applied, Failed, Moved, StoredEvent
from stripe2sf.store.links import Links
from stripe2sf.stripe.writer import StripeRefusal, StripeWriter

log = structlog.get_logger(__name__)

STRIPE_CUSTOMER = "stripe.customer"  # the audit trail's name for a Stripe customer write


def change_types(entities: Iterable[str] = SOURCE_OBJECTS) -> tuple[str, ...]:
    """The inbox event types the reverse handler applies."""
    return tuple(f"salesforce.{e}.{k}" for e in entities for k in CHANGE_KINDS)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _skip_record(event_id: str, skip: Skip) -> AuditRecord:
    return AuditRecord(
        at=_now(),
        event_id=event_id,
        action="skipped",
        outcome="skipped",
        sobject=STRIPE_CUSTOMER,
        external_id=skip.customer_id,
        fields=skip.fields,
        error=skip.reason,
        customer_id=skip.customer_id,
    )


def _write_record(update: StripeUpdate, outcome: str, error: str | None = None) -> AuditRecord:
    return AuditRecord(
        at=_now(),
        event_id=update.event_id,
        action="update",
        outcome=outcome,
        sobject=STRIPE_CUSTOMER,
        external_id=update.customer_id,
        record_id=update.customer_id,
        fields=update.fields,
        error=error,
        customer_id=update.customer_id,
    )


def _conflict_record(event_id: str, customer_id: str, field: str, note: str) -> AuditRecord:
    return AuditRecord(
        at=_now(),
        event_id=event_id,
        action="conflict",
        outcome="resolved",
        sobject=STRIPE_CUSTOMER,
        external_id=customer_id,
        fields=(field,),
        error=note,
        customer_id=customer_id,
    )


class OwnUsers:
    """stripe2sf's own Salesforce user (asked once from the session's userinfo): its changes
    are echoes. Until it is known, changes wait (retryable), so none bounces back."""

    def __init__(self, ask: Callable[[], str | None]) -> None:
        self._ask = ask
        self._ids: tuple[str, ...] | None = None

    def __call__(self) -> tuple[str, ...]:
        if self._ids is None:
            found = self._ask()
            if not found:
                raise RetryableError(
                    "cannot tell stripe2sf's own Salesforce user (userinfo gave no user id); "
                    "Salesforce changes wait so that none of stripe2sf's own bounces back",
                    kind="salesforce.whoami",
                )
            self._ids = (found,)
        return self._ids


def _read_fields(
    salesforce: SalesforcePort, sobject: str, ids: Sequence[str], fields: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Id -> the named fields of these records (one SOQL query)."""
    wanted = sorted(set(fields) - {"Id"})
    if not ids or not wanted:
        return {}
    id_list = ", ".join(quote(i) for i in sorted(set(ids)))
    rows = salesforce.query_all(
        f"SELECT Id, {', '.join(wanted)} FROM {sobject} WHERE Id IN ({id_list})"
    )
    return {str(r["Id"]): {k: r.get(k) for k in wanted} for r in rows}


def _refused(
    exc: StripeRefusal, update: StripeUpdate, sources: Mapping[str, str]
) -> PermanentError:
    """The dead letter's reason: what Stripe refused, and which Salesforce field to correct."""
    param = (exc.param or "").split("[", 1)[0]
    source = sources.get(param) or ", ".join(sorted(set(sources.values())))
    return PermanentError(
        f"{exc} -- correct {source} in Salesforce (the change after the correction is sent "
        f"to Stripe), or change the mapping in [salesforce_to_stripe]",
        kind=exc.kind,
    )


class ReverseHandler:
    """The handler of captured Salesforce changes (`change_types`)."""

    def __init__(
        self,
        config: Callable[[], SyncConfig],
        writer: StripeWriter,
        salesforce: SalesforcePort,
        links: Links,
        audit: AuditTrail,
        own_users: Callable[[], Iterable[str]],
    ) -> None:
        self._config = config  # the sync handler's, once it has read the org (`org_config`)
        self.stripe = writer  # its `calls` are counted with the process's Stripe requests
        self.salesforce = salesforce
        self.links = links
        self.audit = audit
        self.own_users = own_users

    @property
    def config(self) -> SyncConfig:
        return self._config()

    def plan(self, change: SalesforceChange) -> ChangePlan:
        """The change planned; the changed record's other fields read once when a name or an
        address needs parts the change does not carry."""
        found = plan_change(change, self.config, self.own_users())
        if not found.needs:
            return found
        rows = _read_fields(self.salesforce, change.entity, [change.record_id], found.needs)
        row = rows.get(change.record_id) or next(iter(rows.values()), None)
        if row is None:
            return ChangePlan(
                found.event_id,
                skipped=(
                    *found.skipped,
                    Skip(
                        "record_gone",
                        f"{change.entity} {change.record_id} could not be read from "
                        "Salesforce (deleted since?); nothing sent",
                    ),
                ),
            )
        return plan_change(change, self.config, self.own_users(), known=row)

    def __call__(self, event: StoredEvent) -> Applied | Moved:
        try:
            change = parse_change(event.payload)
        except ChangeParseError as exc:
            raise PermanentError(str(exc), kind="salesforce.change_unreadable") from exc
        planned = self.plan(change)
        records = [_skip_record(event.event_id, s) for s in planned.skipped]
        for s in planned.skipped:
            metrics.reverse_skipped(s.kind)
        if not planned.wanted:
            return Applied(audit_records=records)
        linked = self.links.linked_to(change.entity, [change.record_id])
        if change.customer_id and change.customer_id not in linked:
            linked.update(self.links.known([change.customer_id]))
        customers, skips = targets(change, linked)
        for s in skips:
            records.append(_skip_record(event.event_id, s))
            metrics.reverse_skipped(s.kind)
        for cid in customers:
            decision = update_for(planned, cid, self.stripe.customer(cid))
            if isinstance(decision, Skip):
                records.append(_skip_record(event.event_id, decision))
                metrics.reverse_skipped(decision.kind)
                continue
            try:
                self.stripe.update_customer(cid, decision.params, decision.idempotency_key)
            except SyncError as exc:
                metrics.stripe_write("customer_update", "error")
                error: SyncError = exc
                if isinstance(exc, StripeRefusal):
                    error = _refused(exc, decision, planned.sources)
                records.append(_write_record(decision, "error", str(error)))
                self.audit.add(records)
                raise error from exc
            metrics.stripe_write("customer_update", "ok")
            records.append(_write_record(decision, "ok"))
            log.info(
                "stripe_customer_updated",
                event_id=event.event_id,
                customer_id=cid,
                fields=list(decision.fields),
                idempotency_key=decision.idempotency_key,
            )
        return Applied(audit_records=records)


class ConflictGuard:
    """The sync handler plus ownership for customer.updated: a Stripe edit of a field
    Salesforce owns is put back to Salesforce's value (one SOQL per object for the wave).
    Registered for every Stripe type so a wave stays one batch; other types pass through."""

    def __init__(self, inner: Any, reverse: ReverseHandler) -> None:
        self.inner = inner  # the SyncHandler
        self.reverse = reverse

    def __getattr__(self, name: str) -> Any:
        """The sync handler's own (its Stripe reader, the dashboard's `plan_event`, ...)."""
        return getattr(self.inner, name)

    @property
    def config(self) -> SyncConfig:
        return self.reverse.config

    def apply_batch(self, events: Sequence[StoredEvent]) -> list[Applied | Moved | Failed]:
        answers = list(self.inner.apply_batch(events))
        todo = []
        for i, event in enumerate(events):
            answer = answers[i]
            if not isinstance(answer, Applied):
                continue
            mappings = contested(event.payload, self.config)
            if mappings:
                todo.append((i, event, mappings))
        if not todo:
            return answers
        try:
            salesforce = self._salesforce_values(
                {cid for _, e, _ in todo if (cid := self._customer(e))}, todo
            )
        except SyncError as exc:
            for i, _, _ in todo:
                answers[i] = Failed(exc, audit_records=answers[i].audit_records)
            return answers
        for i, event, mappings in todo:
            answers[i] = self._resolve(answers[i], event, mappings, salesforce)
        return answers

    @staticmethod
    def _customer(event: StoredEvent) -> str | None:
        obj = (event.payload.get("data") or {}).get("object") or {}
        cid = obj.get("id")
        return cid if isinstance(cid, str) else None

    def _salesforce_values(
        self, customer_ids: set[str], todo: Sequence[tuple[int, StoredEvent, Any]]
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """Customer -> object -> the linked record's mapped fields, as Salesforce holds them."""
        links = self.reverse.links.known(customer_ids)
        fields: dict[str, set[str]] = {}
        for _, _, mappings in todo:
            for m in mappings:
                fields.setdefault(m.sobject, set()).update(m.fields)
        out: dict[str, dict[str, dict[str, Any]]] = {cid: {} for cid in links}
        for sobject, names in fields.items():
            ids = {cid: _linked_id(link, sobject) for cid, link in links.items()}
            rows = _read_fields(
                self.reverse.salesforce, sobject, [i for i in ids.values() if i], names
            )
            for cid, rid in ids.items():
                if rid and rid in rows:
                    out[cid][sobject] = rows[rid]
        return out

    def _resolve(
        self,
        answer: Applied,
        event: StoredEvent,
        mappings: Any,
        salesforce: Mapping[str, Mapping[str, Mapping[str, Any]]],
    ) -> Applied | Failed:
        cid = self._customer(event)
        edited = (event.payload.get("data") or {}).get("object") or {}
        records = list(answer.audit_records)
        known = salesforce.get(cid or "", {})
        if cid is None or not known:
            skip = Skip(
                "not_linked",
                f"conflict not resolved: {cid} changed fields Salesforce owns, but its "
                "Salesforce records are not known (not linked yet)",
                customer_id=cid,
            )
            metrics.reverse_skipped(skip.kind)
            return Applied(answer.ledger_updates, [*records, _skip_record(event.event_id, skip)])
        writer = self.reverse.stripe
        try:
            current = writer.customer(cid)
            if current is None or current.get("deleted"):
                return answer
            update, notes = reassert(event.event_id, cid, edited, current, mappings, known)
            if update is not None:
                writer.update_customer(cid, update.params, update.idempotency_key)
        except SyncError as exc:
            metrics.stripe_write("conflict_reassert", "error")
            return Failed(exc, audit_records=records)
        records += [_conflict_record(event.event_id, cid, f, n) for f, n in notes]
        if update is not None:
            metrics.stripe_write("conflict_reassert", "ok")
            records.append(_write_record(update, "ok"))
        if notes:
            log.info(
                "stripe_conflict_resolved",
                event_id=event.event_id,
                customer_id=cid,
                fields=[f for f, _ in notes],
                written=list(update.fields) if update is not None else [],
            )
        return Applied(answer.ledger_updates, records)

    def __call__(self, event: StoredEvent) -> Applied | Moved:
        [answer] = self.apply_batch([event])
        if isinstance(answer, Failed):
            if answer.audit_records:
                self.reverse.audit.add(answer.audit_records)
            raise answer.error
        return answer


def _linked_id(link: Link, sobject: str) -> str | None:
    return link.account_id if sobject == "Account" else link.contact_id
