"""Record writes -> change events (a ``RecordHook``, the last of ``Records.hooks``).

Only entities selected for Change Data Capture publish. A create carries every non-null
field; an update only the fields whose values changed (the others null), listed in
``changedFields`` (and in ``nulledFields`` when set to null); a delete only the header. The
writes of one transaction (one API call) share a ``transactionKey``, numbered by
``sequenceNumber`` from 1; ``commitUser`` is the user who wrote, ``changeOrigin`` the API
call's (``origin``).

Faults (``EventBus.set_faults``, ``POST /_sandbox/cdc {"gap": {...}, "overflow_threshold":
K}``): a change to be a gap is published as ``GAP_<type>`` with only the header (no field
values, empty bitmaps), as Salesforce does when it cannot build an event's body; past K changes
of an entity in one transaction, one ``GAP_OVERFLOW`` event (no record ids) stands for the rest.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastavro import schemaless_writer

from salesforce_sandbox.models.store import Record
from salesforce_sandbox.pubsub.bus import EventBus
from salesforce_sandbox.pubsub.origin import CHANGE_ORIGIN
from salesforce_sandbox.pubsub.schemas import ChangeEventSchema, can_capture
from salesforce_sandbox.schema.model import ObjectDef, Schema


class ChangeCapture:
    def __init__(self, bus: EventBus, schema: Callable[[], Schema]) -> None:
        self.bus = bus
        self._schema = schema
        self._before: dict[str, Record | None] = {}
        self._schemas: dict[str, tuple[tuple[Any, ...], ChangeEventSchema]] = {}
        self._transaction = -1
        self._key = ""
        self._sequence = 0
        self._commit_number = 0
        self._counts: dict[str, int] = {}  # entity -> changes in the current transaction

    # RecordHook -----------------------------------------------------------------------------
    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None:
        if can_capture(obj) and self.bus.is_selected(obj.name):
            self._before[str(record["Id"])] = dict(current) if current is not None else None

    def after_write(self, obj: ObjectDef, record: Record) -> None:
        rid = str(record["Id"])
        if rid not in self._before:
            return
        current = self._before.pop(rid)
        event_schema = self.schema_of(obj)
        if current is None:
            changed: list[str] = []
            nulled: list[str] = []
            header = self._header(obj, rid, "CREATE", record)
            if self._faulted(event_schema, header):
                return
            body = event_schema.body(header, record, None)
        else:
            changed = [name for name in event_schema.where if record.get(name) != current.get(name)]
            nulled = [name for name in changed if record.get(name) is None]
            header = self._header(obj, rid, "UPDATE", record)
            if self._faulted(event_schema, header):
                return
            header["changedFields"] = event_schema.bitmap(changed)
            header["nulledFields"] = event_schema.bitmap(nulled)
            body = event_schema.body(header, record, changed)
        self._publish(event_schema, body)

    def after_delete(self, sobject: str, record: Record) -> None:
        """A record went to the recycle bin (also an Account's Contacts with it)."""
        obj = self._schema().get(sobject)
        if obj is None or not can_capture(obj) or not self.bus.is_selected(obj.name):
            return
        event_schema = self.schema_of(obj)
        header = self._header(obj, str(record["Id"]), "DELETE", record)
        if self._faulted(event_schema, header):
            return
        self._publish(event_schema, event_schema.body(header, {}, []))

    def _faulted(self, event_schema: ChangeEventSchema, header: dict[str, Any]) -> bool:
        """Publish the change as a fault instead (a GAP event, or past the overflow threshold
        the transaction's one GAP_OVERFLOW event, then nothing); whether it was one."""
        entity = event_schema.entity
        count = self._counts.get(entity, 0) + 1
        self._counts[entity] = count
        limit = self.bus.overflow_threshold
        if limit is not None and count > limit:
            if count == limit + 1:
                overflow = {**header, "changeType": "GAP_OVERFLOW", "recordIds": []}
                self._publish(event_schema, event_schema.body(overflow, {}, []))
            return True
        if self.bus.take_gap(entity):
            gap = {**header, "changeType": "GAP_" + str(header["changeType"])}
            self._publish(event_schema, event_schema.body(gap, {}, []))
            return True
        return False

    # helpers --------------------------------------------------------------------------------
    def schema_of(self, obj: ObjectDef) -> ChangeEventSchema:
        """The object's event schema as its fields are now (saved once for GetSchema)."""
        signature = tuple((f.name, f.type, f.calculated) for f in obj.fields.values())
        cached = self._schemas.get(obj.name)
        if cached is not None and cached[0] == signature:
            return cached[1]
        built = ChangeEventSchema(obj)
        self._schemas[obj.name] = (signature, built)
        return built

    def _header(self, obj: ObjectDef, rid: str, change: str, record: Record) -> dict[str, Any]:
        store = self.bus.store
        if not store.conn.in_transaction or store.transaction_number != self._transaction:
            self._transaction = store.transaction_number if store.conn.in_transaction else -1
            self._key = str(uuid.uuid4())
            self._sequence = 0
            self._counts = {}
            self._commit_number = time.time_ns() // 1000
        self._sequence += 1
        return {
            "entityName": obj.name,
            "recordIds": [rid],
            "changeType": change,
            "changeOrigin": CHANGE_ORIGIN.get(),
            "transactionKey": self._key,
            "sequenceNumber": self._sequence,
            "commitTimestamp": int(time.time() * 1000),
            "commitNumber": self._commit_number,
            "commitUser": str(record.get("LastModifiedById") or ""),
            "nulledFields": [],
            "diffFields": [],
            "changedFields": [],
        }

    def _publish(self, event_schema: ChangeEventSchema, body: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        schemaless_writer(buffer, event_schema.parsed, body)
        # in the event's transaction: a rollback takes both away
        self.bus.save_schema(event_schema.schema_id, event_schema.entity, event_schema.json)
        self.bus.append(
            event_schema.entity, event_schema.schema_id, str(uuid.uuid4()), buffer.getvalue()
        )
