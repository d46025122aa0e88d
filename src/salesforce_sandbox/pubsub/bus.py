"""The event bus: change events, their schemas and the entity selection, in the org's SQLite.

Tables (in the org's store, so a sandbox restarted on the same ``--data`` keeps its events,
replay ids and schemas; a control-plane reset keeps them too, as an org's event bus would)::

    cdc_events(replay INTEGER PRIMARY KEY AUTOINCREMENT, entity, schema_id, event_id,
               payload BLOB (Avro binary), created_ms)
    cdc_schemas(schema_id PRIMARY KEY, entity, json)

An event is written in the transaction of the record write that caused it (a rollback takes it
away); subscribers are woken after the commit. Replay ids are the ``replay`` counter as 8 bytes
big-endian; events older than the retention (72 h, as Salesforce keeps change events) are
dropped.

Everything here runs on the server's event loop thread, like the store itself; ``notify`` may
be called from another thread (tests writing through ``sandbox.org``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.store import Store
from salesforce_sandbox.pubsub.schemas import (
    CDC_STANDARD,
    MEMBER_TYPE,
    can_capture,
    channel_member_entity,
)
from salesforce_sandbox.schema.model import Schema

SELECTION_META = "cdc.selected"
ALL_CHANNEL = "ChangeEvents"
DEFAULT_RETENTION_HOURS = 72.0

_TABLES = """
CREATE TABLE IF NOT EXISTS cdc_events (
    replay INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT NOT NULL, schema_id TEXT NOT NULL,
    event_id TEXT NOT NULL, payload BLOB NOT NULL, created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cdc_events_by_entity ON cdc_events (entity, replay);
CREATE TABLE IF NOT EXISTS cdc_schemas (
    schema_id TEXT PRIMARY KEY, entity TEXT NOT NULL, json TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredEvent:
    replay: int
    entity: str
    schema_id: str
    event_id: str
    payload: bytes


def replay_bytes(replay: int) -> bytes:
    return replay.to_bytes(8, "big")


def replay_number(value: bytes) -> int | None:
    """The counter in an opaque replay id, None when it is not one of ours."""
    if len(value) != 8:
        return None
    return int.from_bytes(value, "big")


class EventBus:
    def __init__(self, store: Store, retention_hours: float = DEFAULT_RETENTION_HOURS) -> None:
        self.store = store
        self.retention_ms = int(retention_hours * 3600 * 1000)
        store.conn.executescript(_TABLES)
        store.after_commit.append(self._committed)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._dirty = False
        self._appended = 0
        # bumped by `abort_streams` (the control plane's fault): open Subscribe streams end
        self.abort_generation = 0
        self.open_streams = 0
        # faults (the control plane's): entity -> how many of its next changes are published
        # as GAP_* events (header only); more than `overflow_threshold` changes of an entity in
        # one transaction -> one GAP_OVERFLOW event instead of the rest (Salesforce: 100,000)
        self.gaps: dict[str, int] = {}
        self.overflow_threshold: int | None = None

    # faults ---------------------------------------------------------------------------------
    def set_faults(self, gaps: dict[str, int] | None, overflow_threshold: object) -> None:
        """``gaps`` {"Contact": 2} adds GAP changes to come; ``overflow_threshold`` a count
        (None leaves it, 0 or a negative turns it off)."""
        for entity, n in (gaps or {}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise SalesforceError("INVALID_INPUT", f"gap {entity!r}: give a count >= 0")
            self.gaps[entity] = n
        if overflow_threshold is not None:
            if not isinstance(overflow_threshold, int) or isinstance(overflow_threshold, bool):
                raise SalesforceError("INVALID_INPUT", "overflow_threshold: give a whole number")
            self.overflow_threshold = overflow_threshold if overflow_threshold > 0 else None

    def take_gap(self, entity: str) -> bool:
        """Whether this change of `entity` is to be a GAP event (uses one up)."""
        left = self.gaps.get(entity, 0)
        if left <= 0:
            return False
        self.gaps[entity] = left - 1
        return True

    # selection ------------------------------------------------------------------------------
    def selected(self) -> list[str]:
        """The entities whose changes are published (none in a new org)."""
        return list(self.store.meta_get(SELECTION_META) or [])

    def is_selected(self, entity: str) -> bool:
        return entity in (self.store.meta_get(SELECTION_META) or ())

    def select(self, entities: list[str], schema: Schema) -> list[str]:
        """Replace the selection; INVALID_INPUT naming what cannot be selected."""
        names: list[str] = []
        for entity in entities:
            obj = schema.get(entity)
            if obj is None or not can_capture(obj):
                raise SalesforceError(
                    "INVALID_INPUT",
                    f"{entity!r} cannot be selected for Change Data Capture: give standard "
                    f"objects among {sorted(CDC_STANDARD)} or custom objects (Name__c)",
                )
            if obj.name not in names:
                names.append(obj.name)
        with self.store.transaction():
            self.store.meta_set(SELECTION_META, sorted(names))
        return sorted(names)

    def add(self, entities: list[str], schema: Schema) -> list[str]:
        return self.select(self.selected() + entities, schema)

    def deploy_members(self, components: dict[tuple[str, str], str], schema: Schema) -> list[str]:
        """Select the entities of deployed PlatformEventChannelMember components (what Setup >
        Change Data Capture deploys); answers their component names."""
        entities = self.member_entities(components, schema)
        if entities:
            self.add(list(entities.values()), schema)
        return [f"{MEMBER_TYPE}:{name}" for name in entities]

    def member_entities(
        self, components: dict[tuple[str, str], str], schema: Schema
    ) -> dict[str, str]:
        """Component name -> entity of the PlatformEventChannelMember components;
        INVALID_INPUT for one that selects nothing this org can capture."""
        out: dict[str, str] = {}
        for (kind, name), xml in sorted(components.items()):
            if kind != MEMBER_TYPE:
                continue
            try:
                out[name] = channel_member_entity(name, xml, schema)
            except ValueError as exc:
                raise SalesforceError("INVALID_INPUT", str(exc)) from None
        return out

    def remove(self, entities: list[str]) -> list[str]:
        gone = {e.lower() for e in entities}
        kept = [e for e in self.selected() if e.lower() not in gone]
        with self.store.transaction():
            self.store.meta_set(SELECTION_META, kept)
        return kept

    # schemas --------------------------------------------------------------------------------
    def save_schema(self, schema_id: str, entity: str, text: str) -> None:
        self.store.conn.execute(
            "INSERT OR IGNORE INTO cdc_schemas (schema_id, entity, json) VALUES (?, ?, ?)",
            (schema_id, entity, text),
        )

    def schema_json(self, schema_id: str) -> str | None:
        row = self.store.conn.execute(
            "SELECT json FROM cdc_schemas WHERE schema_id = ?", (schema_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    # events ---------------------------------------------------------------------------------
    def append(self, entity: str, schema_id: str, event_id: str, payload: bytes) -> int:
        """Store an event (in the caller's transaction, if any); its replay number."""
        now = int(time.time() * 1000)
        cursor = self.store.conn.execute(
            "INSERT INTO cdc_events (entity, schema_id, event_id, payload, created_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (entity, schema_id, event_id, payload, now),
        )
        self._dirty = True
        self._appended += 1
        if self._appended % 1000 == 0:
            self.purge(now)
        if not self.store.conn.in_transaction:
            self._committed()
        return int(cursor.lastrowid or 0)

    def latest(self) -> int:
        """The newest replay number ever given (0 before the first event)."""
        row = self.store.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'cdc_events'"
        ).fetchone()
        return int(row[0]) if row else 0

    def earliest(self) -> int:
        """The oldest replay number still retained (``latest() + 1`` when none is)."""
        self.purge()
        row = self.store.conn.execute("SELECT min(replay) FROM cdc_events").fetchone()
        return int(row[0]) if row and row[0] is not None else self.latest() + 1

    def read(self, after: int, entities: set[str] | None, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events after replay ``after`` of ``entities`` (None: all)."""
        if limit <= 0 or self.store.conn.in_transaction:  # only what is committed
            return []
        sql = "SELECT replay, entity, schema_id, event_id, payload FROM cdc_events WHERE replay > ?"
        params: list[object] = [after]
        if entities is not None:
            if not entities:
                return []
            sql += f" AND entity IN ({','.join('?' * len(entities))})"
            params.extend(sorted(entities))
        sql += " ORDER BY replay LIMIT ?"
        params.append(limit)
        return [
            StoredEvent(int(r[0]), str(r[1]), str(r[2]), str(r[3]), bytes(r[4]))
            for r in self.store.conn.execute(sql, params)
        ]

    def purge(self, now_ms: int | None = None) -> None:
        """Drop events older than the retention."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if self.store.conn.in_transaction:
            return
        self.store.conn.execute(
            "DELETE FROM cdc_events WHERE created_ms < ?", (now_ms - self.retention_ms,)
        )

    # waking subscribers ---------------------------------------------------------------------
    @property
    def changed(self) -> asyncio.Event:
        """Set (and replaced) when new events are committed: take it before reading, then
        wait on it."""
        return self._changed

    def _committed(self) -> None:
        if self._dirty:
            self._dirty = False
            self.notify()

    def notify(self) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def abort_streams(self) -> int:
        """End every open Subscribe stream with UNAVAILABLE (a fault, as when Salesforce
        restarts a Pub/Sub node); the subscribers must reconnect. Returns how many were open."""
        self.abort_generation += 1
        self.notify()
        return self.open_streams
