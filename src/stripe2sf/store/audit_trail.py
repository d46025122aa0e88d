"""The audit trail on disk: appended under a lock on its head row, read back for checks.

The head row (`audit_head`: entry count and newest hash) is the chain's anchor, kept apart
from the entries and moved in the same transaction as every append (one UPDATE per batch):
`verify` checks the chain against it, so deleting the newest entries is seen as well as an
edit (`domain.audit.verify_chain`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.engine import Connection

from stripe2sf.domain.audit import (
    AuditEntry,
    AuditHead,
    AuditRecord,
    ChainCheck,
    chain,
    verify_chain,
)
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

    def head(self) -> AuditHead | None:
        """The anchor: entry count and newest hash (None when its row is gone)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
            ).one_or_none()
        return AuditHead(int(row.seq), str(row.hash)) if row is not None else None

    def verify(self) -> ChainCheck:
        """The whole chain against its anchor. The anchor is read first and entries appended
        after it are left out, so a worker appending meanwhile is not mistaken for tampering."""
        head = self.head()
        if head is None:
            return ChainCheck(
                False, 0, None, "the audit anchor (row 1 of audit_head) is missing: deleted"
            )
        entries = self.iter_all(upto=head.seq) if head.seq else self.iter_all()
        return verify_chain(entries, head=head)

    def iter_all(self, page: int = 5000, upto: int | None = None) -> Iterator[dict[str, Any]]:
        """Every entry in order (up to seq `upto`, when given), a page at a time (the chain
        check reads the whole trail)."""
        after = 0
        while True:
            query = select(audit_log).where(audit_log.c.seq > after)
            if upto is not None:
                query = query.where(audit_log.c.seq <= upto)
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(audit_log.c.seq).limit(page)).all()
            if not rows:
                return
            for row in rows:
                yield dict(row._mapping)
            after = int(rows[-1].seq)
