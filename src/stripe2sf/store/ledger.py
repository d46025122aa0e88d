"""The sync ledger: the newest Stripe timestamp written to Salesforce per Stripe object."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Engine, case, select
from sqlalchemy.engine import Connection

from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import sync_ledger


def raise_to(
    conn: Connection,
    updates: Mapping[str, int],
    event_id: str | None,
    now: datetime,
    page: int = 5000,
) -> None:
    """Move each object's timestamp forward (never back), inside the caller's transaction: one
    executemany per `page` objects (a backfill batch raises thousands at once)."""
    raise_rows(conn, {k: (v, event_id) for k, v in updates.items()}, now, page)


def raise_rows(
    conn: Connection,
    updates: Mapping[str, tuple[int, str | None]],
    now: datetime,
    page: int = 5000,
) -> None:
    """`raise_to` for many events at once: object id -> (timestamp, the event that wrote it)."""
    rows = [
        {"object_id": k, "stripe_ts": ts, "event_id": event_id, "updated_at": now}
        for k, (ts, event_id) in sorted(updates.items())
    ]
    for i in range(0, len(rows), page):
        ins = dialect_insert(conn)(sync_ledger)
        newer = ins.excluded.stripe_ts > sync_ledger.c.stripe_ts
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["object_id"],
                set_={
                    "stripe_ts": case(
                        (newer, ins.excluded.stripe_ts), else_=sync_ledger.c.stripe_ts
                    ),
                    "event_id": case((newer, ins.excluded.event_id), else_=sync_ledger.c.event_id),
                    "updated_at": ins.excluded.updated_at,
                },
            ),
            rows[i : i + page],
        )


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def timestamps(self, object_ids: Iterable[str]) -> dict[str, int]:
        ids = sorted(set(object_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sync_ledger.c.object_id, sync_ledger.c.stripe_ts).where(
                    sync_ledger.c.object_id.in_(ids)
                )
            ).all()
        return {row.object_id: int(row.stripe_ts) for row in rows}
