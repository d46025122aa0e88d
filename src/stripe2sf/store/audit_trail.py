"""The audit trail on disk: appended under a lock on its head row, read back for checks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.engine import Connection

from stripe2sf.domain.audit import AuditEntry, AuditRecord, chain
from stripe2sf.store.tables import audit_head, audit_log


def append(conn: Connection, records: Sequence[AuditRecord]) -> list[AuditEntry]:
    """Chain `records` after the current head, inside the caller's transaction."""
    if not records:
        return []
    head = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).one()
    prev = AuditEntry(int(head.seq), "", str(head.hash), records[0]) if head.seq else None
    entries: list[AuditEntry] = []
    for record in records:
        prev = chain(prev, record)
        entries.append(prev)
    conn.execute(
        audit_log.insert(),
        [
            {
                **{k: v for k, v in e.to_dict().items() if k != "fields"},
                "fields": json.dumps(list(e.record.fields)),
            }
            for e in entries
        ],
    )
    last = entries[-1]
    conn.execute(
        update(audit_head).where(audit_head.c.id == 1).values(seq=last.seq, hash=last.hash)
    )
    return entries


class AuditTrail:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        with self.engine.begin() as conn:
            return append(conn, records)

    def rows(
        self, *, event_id: str | None = None, customer_id: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.seq)
        if event_id:
            query = query.where(audit_log.c.event_id == event_id)
        if customer_id:
            query = query.where(audit_log.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.limit(limit))]

    def iter_all(self, page: int = 5000) -> Iterator[dict[str, Any]]:
        """Every entry in order, a page at a time (the chain check reads the whole trail)."""
        after = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(audit_log)
                    .where(audit_log.c.seq > after)
                    .order_by(audit_log.c.seq)
                    .limit(page)
                ).all()
            if not rows:
                return
            for row in rows:
                yield dict(row._mapping)
            after = int(rows[-1].seq)
