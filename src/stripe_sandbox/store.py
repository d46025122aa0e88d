"""SQLite storage: one ``objects`` table (API JSON plus internal ``meta``), events, webhook
deliveries and idempotency records. Callers serialise access with the sandbox lock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SECONDARY_INDEXES = {
    "objects_type_created": "objects (type, created, seq)",
    "objects_customer": "objects (customer, type, created, seq)",
    "objects_parent": "objects (parent, type, created, seq)",
}
INDEX_SQL = "\n".join(
    f"CREATE INDEX IF NOT EXISTS {name} ON {spec};" for name, spec in SECONDARY_INDEXES.items()
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    customer TEXT,
    parent TEXT,
    clock TEXT,
    due_at INTEGER,
    data TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS objects_due ON objects (due_at) WHERE due_at IS NOT NULL;
%(indexes)s
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events (created, seq);
CREATE INDEX IF NOT EXISTS events_type ON events (type, created, seq);
CREATE TABLE IF NOT EXISTS event_facts (
    event_id TEXT PRIMARY KEY,
    facts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    duplicate INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    created REAL NOT NULL,
    attempts TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass
class Record:
    """One stored object: its API representation plus internal state the API never shows."""

    id: str
    type: str
    data: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    customer: str | None = None
    parent: str | None = None
    clock: str | None = None
    due_at: int | None = None

    @property
    def created(self) -> int:
        return int(self.data.get("created") or 0)


@dataclass
class Page:
    rows: list[str]
    has_more: bool


Filter = tuple[str, Any]


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute(
            "PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY"
        )
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.executescript(SCHEMA % {"indexes": INDEX_SQL})
        self._depth = 0

    # ---- transactions --------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    def drop_secondary_indexes(self) -> None:
        """For bulk loads: inserting first and indexing after is much faster."""
        for name in SECONDARY_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        self.conn.execute("PRAGMA synchronous=OFF")

    def create_indexes(self) -> None:
        self.conn.executescript(INDEX_SQL)
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def reset(self) -> None:
        for table in ("objects", "events", "event_facts", "deliveries", "idempotency"):
            self.conn.execute(f"DELETE FROM {table}")

    # ---- objects -------------------------------------------------------------------------
    def put(self, rec: Record) -> None:
        self.conn.execute(
            "INSERT INTO objects (id, type, created, customer, parent, clock, due_at, data, meta)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET customer=excluded.customer, parent=excluded.parent,"
            " clock=excluded.clock, due_at=excluded.due_at, data=excluded.data, meta=excluded.meta",
            (
                rec.id,
                rec.type,
                rec.created,
                rec.customer,
                rec.parent,
                rec.clock,
                rec.due_at,
                json.dumps(rec.data, separators=(",", ":")),
                json.dumps(rec.meta, separators=(",", ":")),
            ),
        )

    def put_many(self, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk insert of ``(id, type, created, customer, parent, clock, due_at, data, meta)``
        tuples whose ``data``/``meta`` are already JSON text."""
        self.conn.executemany(
            "INSERT INTO objects (id, type, created, customer, parent, clock, due_at, data, meta)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def get(self, object_id: str, object_type: str | None = None) -> Record | None:
        row = self.conn.execute(
            "SELECT id, type, data, meta, customer, parent, clock, due_at FROM objects WHERE id=?",
            (object_id,),
        ).fetchone()
        if row is None or (object_type is not None and row[1] != object_type):
            return None
        return Record(row[0], row[1], json.loads(row[2]), json.loads(row[3]), *row[4:])

    def get_raw(self, object_id: str) -> str | None:
        row = self.conn.execute("SELECT data FROM objects WHERE id=?", (object_id,)).fetchone()
        return None if row is None else str(row[0])

    def delete(self, object_id: str) -> None:
        self.conn.execute("DELETE FROM objects WHERE id=?", (object_id,))

    def find(
        self, object_type: str, filters: Sequence[Filter] = (), order: str = "ASC"
    ) -> list[Record]:
        where, args = _where(object_type, filters)
        rows = self.conn.execute(
            "SELECT id, type, data, meta, customer, parent, clock, due_at FROM objects"
            f" WHERE {where} ORDER BY created {order}, seq {order}",
            args,
        ).fetchall()
        return [Record(r[0], r[1], json.loads(r[2]), json.loads(r[3]), *r[4:]) for r in rows]

    def due(self, now_by_clock: dict[str | None, int]) -> list[Record]:
        """Objects whose ``due_at`` has passed on their own clock (None = wall clock)."""
        out: list[Record] = []
        for clock, now in now_by_clock.items():
            sql = (
                "SELECT id, type, data, meta, customer, parent, clock, due_at FROM objects"
                " WHERE due_at IS NOT NULL AND due_at <= ? AND "
                + ("clock IS NULL" if clock is None else "clock = ?")
            )
            args: tuple[Any, ...] = (now,) if clock is None else (now, clock)
            for r in self.conn.execute(sql, args).fetchall():
                out.append(Record(r[0], r[1], json.loads(r[2]), json.loads(r[3]), *r[4:]))
        out.sort(key=lambda rec: (rec.due_at or 0, rec.created))
        return out

    def next_due(self, clock: str | None) -> int | None:
        sql = "SELECT MIN(due_at) FROM objects WHERE due_at IS NOT NULL AND " + (
            "clock IS NULL" if clock is None else "clock = ?"
        )
        row = self.conn.execute(sql, () if clock is None else (clock,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def page(
        self,
        object_type: str | None,
        filters: Sequence[Filter],
        created: dict[str, int],
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
        table: str = "objects",
    ) -> Page:
        """Newest first, like Stripe; cursors are object ids."""
        where, args = _where(object_type, filters, created)
        order = "DESC"
        if starting_after or ending_before:
            cursor = self.conn.execute(
                f"SELECT created, seq FROM {table} WHERE id=?",
                (starting_after or ending_before,),
            ).fetchone()
            if cursor is None:
                return Page([], False)
            if starting_after:
                where += " AND (created, seq) < (?, ?)"
            else:
                where += " AND (created, seq) > (?, ?)"
                order = "ASC"
            args.extend(cursor)
        rows = self.conn.execute(
            f"SELECT data FROM {table} WHERE {where} ORDER BY created {order}, seq {order} LIMIT ?",
            [*args, limit + 1],
        ).fetchall()
        has_more = len(rows) > limit
        data = [r[0] for r in rows[:limit]]
        if order == "ASC":
            data.reverse()
        return Page(data, has_more)

    def count(self, object_type: str) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM objects WHERE type=?", (object_type,))
        return int(row.fetchone()[0])

    # ---- events --------------------------------------------------------------------------
    def put_event(self, event: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO events (id, type, created, data) VALUES (?, ?, ?, ?)",
            (
                event["id"],
                event["type"],
                event["created"],
                json.dumps(event, separators=(",", ":")),
            ),
        )

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM events WHERE id=?", (event_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def update_event(self, event: dict[str, Any]) -> None:
        self.conn.execute(
            "UPDATE events SET data=? WHERE id=?",
            (json.dumps(event, separators=(",", ":")), event["id"]),
        )

    def purge_events(self, before: int) -> None:
        self.conn.execute(
            "DELETE FROM event_facts WHERE event_id IN (SELECT id FROM events WHERE created < ?)",
            (before,),
        )
        self.conn.execute("DELETE FROM events WHERE created < ?", (before,))

    def put_event_facts(self, event_id: str, facts: dict[str, Any]) -> None:
        """What an older API version shows of the event's objects beyond today's fields, read
        when the event was made (``stripe_sandbox.rendering``)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO event_facts (event_id, facts) VALUES (?, ?)",
            (event_id, json.dumps(facts, separators=(",", ":"))),
        )

    def get_event_facts(self, event_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT facts FROM event_facts WHERE event_id=?", (event_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # ---- idempotency ---------------------------------------------------------------------
    def get_idempotent(self, key: str) -> tuple[str, int, str] | None:
        row = self.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE key=?", (key,)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]))

    def put_idempotent(
        self, key: str, fingerprint: str, status: int, body: str, now: float
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO idempotency (key, fingerprint, status, body, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, fingerprint, status, body, now),
        )


def _where(
    object_type: str | None, filters: Sequence[Filter], created: dict[str, int] | None = None
) -> tuple[str, list[Any]]:
    clauses = ["1 = 1"]
    args: list[Any] = []
    if object_type is not None:
        clauses.append("type = ?")
        args.append(object_type)
    for expr, value in filters:
        if "?" in expr:
            clauses.append(expr)
            args.extend(value if isinstance(value, (list, tuple)) else [value])
        elif value is None:
            clauses.append(f"{expr} IS NULL")
        elif isinstance(value, (list, tuple)):
            clauses.append(f"{expr} IN ({','.join('?' * len(value))})")
            args.extend(value)
        else:
            clauses.append(f"{expr} = ?")
            args.append(value)
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    for op, value in (created or {}).items():
        clauses.append(f"created {ops[op]} ?")
        args.append(value)
    return " AND ".join(clauses), args
