"""Backfill runs and checkpoints, digests of what was written, reconcile runs and their items.

`commit_batch` is the checkpoint: in one transaction it raises the sync ledger, appends the
audit entries, stores the digests of the objects written and moves the phase's cursor, so a
run killed at any moment resumes after the last batch Salesforce confirmed."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)

from stripe2sf.domain.audit import AuditRecord
from stripe2sf.store.audit_trail import append
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.history_tables import (
    backfill_checkpoints,
    backfill_digests,
    backfill_runs,
    reconcile_runs,
)
from stripe2sf.store.ledger import raise_to
from stripe2sf.store.tables import PK, metadata

OPEN_STATUSES = ("running", "stopped")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunRow:
    id: int
    status: str
    since: int | None
    as_of: int
    objects: str
    options: dict[str, Any]
    staging_path: str
    message: str | None
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class Checkpoint:
    cursor: str | None
    done: bool
    counts: dict[str, int]


def _run(row: Any) -> RunRow:
    return RunRow(
        id=int(row.id),
        status=str(row.status),
        since=row.since,
        as_of=int(row.as_of),
        objects=str(row.objects),
        options=json.loads(row.options or "{}"),
        staging_path=str(row.staging_path),
        message=row.message,
        summary=json.loads(row.summary) if row.summary else None,
    )


class BackfillStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resumable(self, objects: str, since: int | None) -> RunRow | None:
        """The newest unfinished run over the same objects and start date."""
        query = (
            select(backfill_runs)
            .where(backfill_runs.c.status.in_(OPEN_STATUSES))
            .where(backfill_runs.c.objects == objects)
            .order_by(backfill_runs.c.id.desc())
            .limit(1)
        )
        query = query.where(
            backfill_runs.c.since.is_(None) if since is None else backfill_runs.c.since == since
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _run(row) if row else None

    def abandon_open(self, objects: str, since: int | None, why: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(backfill_runs)
                .where(backfill_runs.c.status.in_(OPEN_STATUSES))
                .where(backfill_runs.c.objects == objects)
                .values(status="abandoned", message=why, updated_at=_now())
            )

    def create(
        self,
        *,
        since: int | None,
        as_of: int,
        objects: str,
        options: Mapping[str, Any],
        staging: str,
    ) -> RunRow:
        now = _now()
        with self.engine.begin() as conn:
            result = conn.execute(
                backfill_runs.insert().values(
                    status="running",
                    since=since,
                    as_of=as_of,
                    objects=objects,
                    options=json.dumps(dict(options), default=str),
                    staging_path=staging,
                    started_at=now,
                    updated_at=now,
                )
            )
            run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        found = self.get(run_id)
        assert found is not None
        return found

    def get(self, run_id: int) -> RunRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(backfill_runs).where(backfill_runs.c.id == run_id)).first()
        return _run(row) if row else None

    def set_status(
        self,
        run_id: int,
        status: str,
        message: str | None = None,
        summary: Mapping[str, Any] | None = None,
        finished: bool = False,
    ) -> None:
        values: dict[str, Any] = {"status": status, "message": message, "updated_at": _now()}
        if summary is not None:
            values["summary"] = json.dumps(dict(summary), default=str)
        if finished:
            values["finished_at"] = _now()
        with self.engine.begin() as conn:
            conn.execute(update(backfill_runs).where(backfill_runs.c.id == run_id).values(**values))

    def checkpoint(self, run_id: int, phase: str) -> Checkpoint:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(backfill_checkpoints).where(
                    backfill_checkpoints.c.run_id == run_id, backfill_checkpoints.c.phase == phase
                )
            ).first()
        if row is None:
            return Checkpoint(None, False, {})
        return Checkpoint(row.cursor, bool(row.done), json.loads(row.counts or "{}"))

    def _save(
        self,
        conn: Any,
        run_id: int,
        phase: str,
        cursor: str | None,
        done: bool,
        counts: Mapping[str, int],
    ) -> None:
        now = _now()
        ins = dialect_insert(conn)(backfill_checkpoints).values(
            run_id=run_id,
            phase=phase,
            cursor=cursor,
            done=done,
            counts=json.dumps(dict(counts)),
            updated_at=now,
        )
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["run_id", "phase"],
                set_={
                    "cursor": cursor,
                    "done": done,
                    "counts": json.dumps(dict(counts)),
                    "updated_at": now,
                },
            )
        )
        conn.execute(
            update(backfill_runs).where(backfill_runs.c.id == run_id).values(updated_at=now)
        )

    def save_checkpoint(
        self, run_id: int, phase: str, cursor: str | None, done: bool, counts: Mapping[str, int]
    ) -> None:
        with self.engine.begin() as conn:
            self._save(conn, run_id, phase, cursor, done, counts)

    def commit_batch(
        self,
        run_id: int,
        phase: str,
        *,
        cursor: str | None,
        done: bool,
        counts: Mapping[str, int],
        ledger: Mapping[str, int],
        audit: Iterable[AuditRecord],
        digests: Iterable[tuple[str, str]],
    ) -> None:
        now = _now()
        with self.engine.begin() as conn:
            if ledger:
                raise_to(conn, ledger, f"backfill:{run_id}", now)
            records = iter(audit)
            while page := list(itertools.islice(records, 5000)):  # a page at a time: flat memory
                append(conn, page)
            rows = [
                {"object_id": oid, "digest": digest, "run_id": run_id, "written_at": now}
                for oid, digest in digests
            ]
            for i in range(0, len(rows), 5000):
                ins = dialect_insert(conn)(backfill_digests)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=["object_id"],
                        set_={
                            "digest": ins.excluded.digest,
                            "run_id": ins.excluded.run_id,
                            "written_at": ins.excluded.written_at,
                        },
                    ),
                    rows[i : i + 5000],
                )
            self._save(conn, run_id, phase, cursor, done, counts)

    def digests(self, object_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        ids = list(object_ids)
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 900):
                rows = conn.execute(
                    select(backfill_digests.c.object_id, backfill_digests.c.digest).where(
                        backfill_digests.c.object_id.in_(ids[i : i + 900])
                    )
                ).all()
                out.update({r.object_id: r.digest for r in rows})
        return out


# Drift items kept: the first ITEMS_PER_RUN of a run, for the newest RUNS_WITH_ITEMS runs (an
# older run keeps its counts; its report file, when written, has every item).
ITEMS_PER_RUN = 20_000
RUNS_WITH_ITEMS = 100

# One row per drift item a reconcile run found (migration 0010), in the report's order. The
# kind names the field compared (`domain.reconcile.drift.KIND_TITLES`); `fixed`: whether
# `--fix` repaired its Stripe object (NULL: not tried).
reconcile_items = Table(
    "reconcile_items",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("stripe_id", String(255), nullable=False),
    Column("customer_id", String(255)),
    Column("salesforce_id", String(32)),
    Column("expected", Text, nullable=False),
    Column("actual", Text, nullable=False),
    Column("fixable", Boolean, nullable=False),
    Column("fix_object", String(255)),
    Column("fixed", Boolean),
    Index("ix_reconcile_items_run_id_id", "run_id", "id"),
)


@dataclass(frozen=True)
class ReconcileItem:
    """A drift item as recorded with its run."""

    kind: str
    stripe_id: str
    customer_id: str | None
    salesforce_id: str | None
    expected: str
    actual: str
    fixable: bool
    fix_object: str | None = None  # "<phase>:<stripe id>" that `--fix` plans again
    fixed: bool | None = None  # None: no fix tried


def reconcile_counts(counts_column: str | None) -> dict[str, int]:
    """A run's `counts` column: items found by kind (drift and not)."""
    try:
        doc = json.loads(counts_column or "{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): int(v) for k, v in doc.items() if isinstance(v, int)}


class ReconcileStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        *,
        started_at: datetime,
        fix: bool,
        drift: int,
        fixed: int,
        remaining: int | None,
        counts: Mapping[str, int],
        report_path: str | None,
        items: Sequence[ReconcileItem] = (),
    ) -> int:
        """One run with its first ITEMS_PER_RUN items, in one transaction; the items of runs
        older than the newest RUNS_WITH_ITEMS go."""
        with self.engine.begin() as conn:
            result = conn.execute(
                reconcile_runs.insert().values(
                    started_at=started_at,
                    finished_at=_now(),
                    fix=fix,
                    drift=drift,
                    fixed=fixed,
                    remaining=remaining,
                    counts=json.dumps(dict(counts)),
                    report_path=report_path,
                )
            )
            run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            rows = [
                {
                    "run_id": run_id,
                    "kind": item.kind,
                    "stripe_id": item.stripe_id,
                    "customer_id": item.customer_id or None,
                    "salesforce_id": item.salesforce_id or None,
                    "expected": item.expected,
                    "actual": item.actual,
                    "fixable": item.fixable,
                    "fix_object": item.fix_object,
                    "fixed": item.fixed,
                }
                for item in items[:ITEMS_PER_RUN]
            ]
            for i in range(0, len(rows), 2000):
                conn.execute(reconcile_items.insert(), rows[i : i + 2000])
            oldest_kept = (
                select(reconcile_runs.c.id)
                .order_by(reconcile_runs.c.id.desc())
                .limit(1)
                .offset(RUNS_WITH_ITEMS - 1)
                .scalar_subquery()
            )
            conn.execute(delete(reconcile_items).where(reconcile_items.c.run_id < oldest_kept))
            return run_id

    def count_items(self, run_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(reconcile_items)
                    .where(reconcile_items.c.run_id == run_id)
                ).scalar_one()
            )

    def items(self, run_id: int, limit: int = 50, offset: int = 0) -> list[ReconcileItem]:
        """A run's items in the report's order (`offset` rows skipped)."""
        t = reconcile_items.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(reconcile_items)
                .where(t.run_id == run_id)
                .order_by(t.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [
            ReconcileItem(
                str(r.kind),
                str(r.stripe_id),
                r.customer_id,
                r.salesforce_id,
                str(r.expected),
                str(r.actual),
                bool(r.fixable),
                r.fix_object,
                None if r.fixed is None else bool(r.fixed),
            )
            for r in rows
        ]
