"""SQLite storage: records as JSON with a value index for keyed fields.

Tables::

    records(id PRIMARY KEY, sobject, deleted, data JSON)
    keys(sobject, field, value, id)        -- external id / unique / lookup / indexed values
    meta(name PRIMARY KEY, value JSON)     -- deployed schema, settings
    jobs(id PRIMARY KEY, data JSON)        -- Bulk API 2.0 job info
    job_rows(job_id, kind, seq, sf_id, extra, row)  -- Bulk results (kind: ok, fail, unprocessed)

One connection, used from the server's event loop thread only (``check_same_thread=False``
so the in-process test helper can create it elsewhere). Writes run inside ``transaction()``;
nested calls use savepoints so Composite/Collections ``allOrNone`` can roll back.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, sobject TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_sobject ON records (sobject, deleted);
CREATE TABLE IF NOT EXISTS keys (
    sobject TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_by_value ON keys (sobject, field, value);
CREATE INDEX IF NOT EXISTS keys_by_id ON keys (id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS job_rows (
    job_id TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
    sf_id TEXT, extra TEXT, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_rows_by_job ON job_rows (job_id, kind, seq);
"""

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


class Store:
    def __init__(self, path: Path | None) -> None:
        target = str(path) if path is not None else ":memory:"
        self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.executescript(_SCHEMA)
        self._depth = 0
        self._savepoints = itertools.count()
        # outermost transactions begun so far (writes with the same number share a
        # transaction), and what runs after each outermost commit (change events' delivery)
        self.transaction_number = 0
        self.after_commit: list[Callable[[], None]] = []

    def close(self) -> None:
        self.conn.close()

    # transactions ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction, or a savepoint inside one; rolled back when the block raises."""
        if self._depth == 0:
            self.conn.execute("BEGIN")
            self.transaction_number += 1
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            self.conn.execute("COMMIT")
            for callback in self.after_commit:
                callback()
            return
        name = f"sp{next(self._savepoints)}"
        self.conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self._depth -= 1
        self.conn.execute(f"RELEASE {name}")

    # records --------------------------------------------------------------------------------
    def get(self, record_id: str) -> tuple[str, bool, Record] | None:
        """(sobject, deleted, data) of a record."""
        row = self.conn.execute(
            "SELECT sobject, deleted, data FROM records WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            return None
        return row[0], bool(row[1]), _loads(row[2])

    def get_many(self, ids: list[str]) -> dict[str, tuple[str, bool, Record]]:
        out: dict[str, tuple[str, bool, Record]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for rid, sobject, deleted, data in self.conn.execute(
                f"SELECT id, sobject, deleted, data FROM records WHERE id IN ({marks})", chunk
            ):
                out[rid] = (sobject, bool(deleted), _loads(data))
        return out

    def insert(self, sobject: str, record_id: str, data: Record) -> None:
        self.conn.execute(
            "INSERT INTO records (id, sobject, deleted, data) VALUES (?, ?, 0, ?)",
            (record_id, sobject, _dumps(data)),
        )

    def replace(self, record_id: str, data: Record, deleted: bool = False) -> None:
        self.conn.execute(
            "UPDATE records SET data = ?, deleted = ? WHERE id = ?",
            (_dumps(data), int(deleted), record_id),
        )

    def scan(self, sobject: str, include_deleted: bool) -> Iterator[Record]:
        sql = "SELECT data FROM records WHERE sobject = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        for (data,) in self.conn.execute(sql + " ORDER BY id", (sobject,)):
            yield _loads(data)

    def count(self, sobject: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM records WHERE sobject = ? AND deleted = 0", (sobject,)
        ).fetchone()
        return int(row[0])

    def max_id(self, prefix: str) -> str | None:
        row = self.conn.execute(
            "SELECT max(id) FROM records WHERE id >= ? AND id < ?", (prefix, prefix + "~")
        ).fetchone()
        return row[0] if row and row[0] else None

    # keys -----------------------------------------------------------------------------------
    def set_keys(
        self, sobject: str, record_id: str, keys: Iterable[tuple[str, str]], fresh: bool = False
    ) -> None:
        """Replace a record's index entries (``fresh``: it has none yet)."""
        if not fresh:
            self.conn.execute("DELETE FROM keys WHERE id = ?", (record_id,))
        params: list[str] = []
        for field, value in keys:
            params.extend((sobject, field, value, record_id))
        if params:
            rows = ",".join(["(?, ?, ?, ?)"] * (len(params) // 4))
            self.conn.execute(f"INSERT INTO keys (sobject, field, value, id) VALUES {rows}", params)

    def drop_keys(self, record_id: str) -> None:
        self.conn.execute("DELETE FROM keys WHERE id = ?", (record_id,))

    def lookup(self, sobject: str, field: str, value: str) -> list[str]:
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT id FROM keys WHERE sobject = ? AND field = ? AND value = ? ORDER BY id",
                (sobject, field, value),
            )
        ]

    def lookup_many(self, sobject: str, field: str, values: list[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(
                row[0]
                for row in self.conn.execute(
                    f"SELECT id FROM keys WHERE sobject = ? AND field = ? AND value IN ({marks})",
                    [sobject, field, *chunk],
                )
            )
        return out

    def lookup_pairs(self, sobject: str, field: str, values: list[str]) -> list[tuple[str, str]]:
        """(value, id) pairs for many values of one indexed field."""
        out: list[tuple[str, str]] = []
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(
                (row[0], row[1])
                for row in self.conn.execute(
                    f"SELECT value, id FROM keys WHERE sobject = ? AND field = ? "
                    f"AND value IN ({marks}) ORDER BY id",
                    [sobject, field, *chunk],
                )
            )
        return out

    # meta -----------------------------------------------------------------------------------
    def meta_get(self, name: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return _loads(row[0]) if row else None

    def meta_set(self, name: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, _dumps(value)),
        )

    # wiping ---------------------------------------------------------------------------------
    def wipe(self, keep_meta: bool = True) -> None:
        for table in ("records", "keys", "jobs", "job_rows"):
            self.conn.execute(f"DELETE FROM {table}")
        if not keep_meta:
            self.conn.execute("DELETE FROM meta")
