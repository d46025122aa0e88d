"""A backfill's scratch file (SQLite, one per run): the Stripe objects read so far and an index
of what already exists in Salesforce, so that planning millions of objects answers its lookups
from disk, with flat memory, instead of one API call each. Not the service's database: it is
deleted when the run succeeds."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    customer TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type_seq ON objects (type, seq);
CREATE INDEX IF NOT EXISTS objects_type_customer ON objects (type, customer);
CREATE TABLE IF NOT EXISTS sf_rows (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, key, record_id)
);
"""


def customer_of(obj: Mapping[str, Any]) -> str | None:
    """The Stripe customer an object belongs to (a customer: itself)."""
    if obj.get("object") == "customer":
        return str(obj.get("id"))
    customer = obj.get("customer")
    if isinstance(customer, Mapping):
        customer = customer.get("id")
    return str(customer) if customer else None


class Staging:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def delete(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    # Stripe objects ---------------------------------------------------------------------------
    def put_objects(self, phase: str, objects: Sequence[Mapping[str, Any]]) -> None:
        """Insert or refresh (same id keeps its place in the order)."""
        rows = [
            (str(o["id"]), phase, customer_of(o), json.dumps(o, separators=(",", ":")))
            for o in objects
        ]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO objects (id, type, customer, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data = excluded.data, customer = excluded.customer",
                rows,
            )

    def count(self, phase: str) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM objects WHERE type = ?", (phase,)).fetchone()
        return int(row[0])

    def page(self, phase: str, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.conn.execute(
            "SELECT seq, data FROM objects WHERE type = ? AND seq > ? ORDER BY seq LIMIT ?",
            (phase, after, limit),
        ).fetchall()
        return [(int(seq), json.loads(data)) for seq, data in rows]

    def iter_objects(self, phase: str, page: int = 2000) -> Iterator[dict[str, Any]]:
        after = 0
        while rows := self.page(phase, after, page):
            for _, obj in rows:
                yield obj
            after = rows[-1][0]

    def get(self, phase: str, object_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM objects WHERE type = ? AND id = ?", (phase, object_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def of_customer(self, phase: str, customer_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT data FROM objects WHERE type = ? AND customer = ? ORDER BY seq",
            (phase, customer_id),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # Salesforce index -------------------------------------------------------------------------
    def clear_index(self) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM sf_rows")

    def put_rows(self, kind: str, rows: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """(key, record id, row) triples under `kind` (e.g. account by customer id)."""
        data = [(kind, key, rid, json.dumps(row, separators=(",", ":"))) for key, rid, row in rows]
        if not data:
            return
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO sf_rows (kind, key, record_id, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(kind, key, record_id) DO UPDATE SET data = excluded.data",
                data,
            )

    def rows_many(self, kind: str, keys: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """`rows(kind, key)` for many keys in a few queries: every key is in the answer (no
        rows: an empty list)."""
        sql = "SELECT key, data FROM sf_rows WHERE kind = ? AND key IN ({}) ORDER BY key, record_id"
        return self._many(sql, kind, keys)

    def of_customers(self, phase: str, customer_ids: Iterable[str]) -> dict[str, list[Any]]:
        """`of_customer(phase, id)` for many customers in a few queries (every id answered)."""
        sql = "SELECT customer, data FROM objects WHERE type = ? AND customer IN ({}) ORDER BY seq"
        return self._many(sql, phase, customer_ids)

    def _many(self, sql: str, first: str, keys: Iterable[str]) -> dict[str, list[Any]]:
        """(key, JSON) rows of `sql` for `first` and each key, 900 keys a query (below
        SQLite's limit on bound parameters); every key is in the answer."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, list[Any]] = {k: [] for k in wanted}
        for i in range(0, len(wanted), 900):
            part = wanted[i : i + 900]
            marks = ",".join("?" * len(part))
            for key, data in self.conn.execute(sql.format(marks), (first, *part)):
                out[key].append(json.loads(data))
        return out

    def rows(self, kind: str, key: str) -> list[dict[str, Any]]:
        found = self.conn.execute(
            "SELECT data FROM sf_rows WHERE kind = ? AND key = ? ORDER BY record_id", (kind, key)
        ).fetchall()
        return [json.loads(r[0]) for r in found]
