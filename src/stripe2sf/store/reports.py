"""Read-only queries behind the dashboard, the alert monitor and the business figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select

from stripe2sf.store.history_tables import reconcile_runs
from stripe2sf.store.tables import attempts, audit_log, events

FIGURE_TYPES = (
    "invoice.payment_failed",
    "invoice.paid",
    "invoice.payment_succeeded",
    "customer.subscription.deleted",
)


class Reports:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- operations ---------------------------------------------------------------------------

    def received_since(self, since: datetime) -> list[datetime]:
        """When each event stored since `since` arrived (for events per minute)."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(events.c.received_at).where(events.c.received_at >= since)
                ).scalars()
            )

    def latencies_since(self, since: datetime) -> list[tuple[datetime, float]]:
        """(committed at, seconds from arrival) of every event applied since `since`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.received_at, events.c.processed_at).where(
                    events.c.state == "done", events.c.processed_at >= since
                )
            ).all()
        return [
            (r.processed_at, max(0.0, (r.processed_at - r.received_at).total_seconds()))
            for r in rows
        ]

    def first_processed_since(self, since: datetime) -> datetime | None:
        """When the oldest event applied since `since` was committed (None: none)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.min(events.c.processed_at)).where(
                    events.c.state == "done", events.c.processed_at >= since
                )
            ).scalar()
        return value if isinstance(value, datetime) else None

    def attempt_outcomes_since(self, since: datetime) -> dict[str, int]:
        """Attempts finished since `since` by outcome (done, retry, dead)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(attempts.c.outcome, func.count())
                .where(attempts.c.finished_at >= since)
                .group_by(attempts.c.outcome)
            ).all()
        return {str(outcome): int(n) for outcome, n in rows}

    def writes_today(self, since: datetime) -> int:
        """Salesforce writes recorded in the audit trail since `since` (ISO text compare)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.count()).where(audit_log.c.at >= since.isoformat())
            ).scalar()
        return int(value or 0)

    def review_queue(self) -> list[str]:
        """Customers waiting for a person to pick their Contact (review Tasks written)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_log.c.external_id)
                .where(audit_log.c.external_id.like("review:%"), audit_log.c.outcome == "ok")
                .distinct()
            ).scalars()
            waiting = {str(r).removeprefix("review:") for r in rows}
            resolved = conn.execute(
                select(audit_log.c.customer_id)
                .where(audit_log.c.event_id.like("review-resolved:%"), audit_log.c.outcome == "ok")
                .distinct()
            ).scalars()
            return sorted(waiting - {str(r) for r in resolved})

    # -- events -------------------------------------------------------------------------------

    def _event_filter(
        self, query: Any, *, text: str, event_type: str, state: str, error_kind: str
    ) -> Any:
        if text:
            query = query.where(or_(events.c.event_id == text, events.c.lane == text))
        if event_type:
            query = query.where(events.c.type == event_type)
        if state:
            query = query.where(events.c.state == state)
        if error_kind:
            query = query.where(events.c.error_kind == error_kind)
        return query

    def search_events(
        self,
        *,
        text: str = "",
        event_type: str = "",
        state: str = "",
        error_kind: str = "",
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Events matching every filter given, newest first (`offset` rows skipped)."""
        query = select(
            events.c.event_id,
            events.c.type,
            events.c.lane,
            events.c.state,
            events.c.source,
            events.c.attempts,
            events.c.received_at,
            events.c.processed_at,
            events.c.next_attempt_at,
            events.c.error_kind,
            events.c.last_error,
        ).order_by(events.c.id.desc())
        query = self._event_filter(
            query, text=text, event_type=event_type, state=state, error_kind=error_kind
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [dict(r._mapping) for r in rows]

    def count_events(
        self, *, text: str = "", event_type: str = "", state: str = "", error_kind: str = ""
    ) -> int:
        """How many events match the filters of `search_events`."""
        query = self._event_filter(
            select(func.count()).select_from(events),
            text=text,
            event_type=event_type,
            state=state,
            error_kind=error_kind,
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def customer_facts(self, customer_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Email and name of each customer, from the newest customer event stored for it
        (`{}` for a customer without one)."""
        out: dict[str, dict[str, str]] = {}
        ids = list(customer_ids)
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(
                    select(events.c.lane, events.c.payload)
                    .where(events.c.lane.in_(ids[i : i + 500]), events.c.type.like("customer.%"))
                    .where(events.c.type.not_like("customer.subscription.%"))
                    .order_by(events.c.id)
                ).all()
                for lane, payload in rows:  # oldest first: the newest wins
                    obj = _object_of(payload)
                    if obj.get("object") != "customer":
                        continue
                    facts = out.setdefault(str(lane), {})
                    for key in ("email", "name"):
                        if obj.get(key):
                            facts[key] = str(obj[key])
        return out

    def event_types(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(events.c.type).distinct()).scalars())

    def error_kinds(self, state: str = "") -> list[str]:
        """The error kinds of the events in `state` (of every event without one)."""
        query = select(events.c.error_kind).distinct()
        if state:
            query = query.where(events.c.state == state)
        with self.engine.connect() as conn:
            return sorted(str(r) for r in conn.execute(query).scalars() if r)

    def audit_of(self, event_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_log).where(audit_log.c.event_id == event_id).order_by(audit_log.c.seq)
            ).all()
        return [dict(r._mapping) for r in rows]

    def audit_page(self, *, before: int | None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_log.c.seq < before)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    # -- business figures ---------------------------------------------------------------------

    def billing_events(self) -> list[tuple[str, int, str]]:
        """(type, created, payload) of the events the business figures are computed from."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.type, events.c.created, events.c.payload)
                .where(events.c.type.in_(FIGURE_TYPES), events.c.state != "ignored")
                .order_by(events.c.created, events.c.id)
            ).all()
        return [(str(r.type), int(r.created), str(r.payload)) for r in rows]

    def synced_records(self) -> int:
        """Salesforce records written and checked by stripe2sf (audit entries that succeeded)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.count()).where(audit_log.c.outcome == "ok")).scalar()
        return int(value or 0)

    def reconcile_runs(self, limit: int = 50) -> list[Mapping[str, Any]]:
        """Reconciliation runs with their drift counts, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(reconcile_runs).order_by(reconcile_runs.c.started_at.desc()).limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def reconcile_run(self, run_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(reconcile_runs).where(reconcile_runs.c.id == run_id)).first()
        return dict(row._mapping) if row else None


def ids(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(r["event_id"]) for r in rows]


def _object_of(payload: str | None) -> dict[str, Any]:
    try:
        doc = json.loads(payload or "{}")
    except ValueError:
        return {}
    obj = (doc.get("data") or {}).get("object") if isinstance(doc, dict) else None
    return obj if isinstance(obj, dict) else {}
