"""Backfill runs and checkpoints, digests of what was written, reconcile runs.

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

from sqlalchemy import Engine, select, update

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


RECONCILE_ITEMS_KEPT = 2000


@dataclass(frozen=True)
class ReconcileDetail:
    """What a reconcile run's `counts` column holds: drift counts by kind and the first
    RECONCILE_ITEMS_KEPT report rows (CSV_HEADER's columns), with how many there were."""

    counts: dict[str, int]
    items: list[list[str]]
    items_total: int


def reconcile_detail(counts_column: str | None) -> ReconcileDetail:
    """Read the column: `{"counts": {...}, "items": [...], "items_total": n}`, or a plain
    `{kind: n}` written before the items were kept (no items then)."""
    try:
        doc = json.loads(counts_column or "{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    if isinstance(doc.get("counts"), dict):
        items = [[str(c) for c in row] for row in doc.get("items") or [] if isinstance(row, list)]
        return ReconcileDetail(
            {str(k): int(v) for k, v in doc["counts"].items()},
            items,
            int(doc.get("items_total", len(items))),
        )
    return ReconcileDetail({str(k): int(v) for k, v in doc.items() if isinstance(v, int)}, [], 0)


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
        items: Sequence[Sequence[str]] = (),
    ) -> int:
        """One run; `items`: the report's rows, the first RECONCILE_ITEMS_KEPT kept with it
        (for the dashboard's page of the run)."""
        column = {
            "counts": dict(counts),
            "items": [list(row) for row in items[:RECONCILE_ITEMS_KEPT]],
            "items_total": len(items),
        }
        with self.engine.begin() as conn:
            result = conn.execute(
                reconcile_runs.insert().values(
                    started_at=started_at,
                    finished_at=_now(),
                    fix=fix,
                    drift=drift,
                    fixed=fixed,
                    remaining=remaining,
                    counts=json.dumps(column),
                    report_path=report_path,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
