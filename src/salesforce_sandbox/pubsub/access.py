"""Who receives which change events, and which of their fields (Change Data Capture's "Required
Permissions for Change Event Subscribers" and "Field-Level Security").

Change Data Capture ignores sharing: it sends the changes of every record of an object, so it
asks more of the subscribed user (the access token's) than read access
(``models.permissions.change_events_denied``: View All Records on the object, View All Users
for User, View All Data for Task and Event or instead of any of them). A per-entity channel
(``/data/ContactChangeEvent``) refuses the subscription of a user without it; the standard
``/data/ChangeEvents`` channel lets anyone subscribe and delivers only the entities the user
may receive. Permissions are read again for every batch, so a revoked grant stops delivery.

Each delivered event holds only the fields the user may read: the others are null and absent
from ``changedFields``, ``nulledFields`` and ``diffFields`` (the schema still lists them, as
GetSchema's does in Salesforce). An administrator ("Modify All Data") gets the stored payload.
"""

from __future__ import annotations

import io
import json
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from salesforce_sandbox.models.org import Org
from salesforce_sandbox.models.permissions import change_events_denied
from salesforce_sandbox.pubsub.bus import StoredEvent
from salesforce_sandbox.pubsub.schemas import clear_bits, positions_of

BITMAPS = ("changedFields", "nulledFields", "diffFields")


class Delivery:
    """The org's permission model applied to change events, for one subscribed user."""

    def __init__(self, org: Org, user_id: str) -> None:
        self.org = org
        self.user_id = user_id
        self._schemas: dict[str, tuple[Any, list[dict[str, Any]], dict[str, Any]]] = {}

    def denied(self, entity: str) -> str | None:
        """The permission the user lacks to receive ``entity``'s change events (None: none)."""
        obj = self.org.full_schema.get(entity)
        if obj is None:
            return None
        return change_events_denied(self.org.permissions.grants(self.user_id), obj)

    def receivable(self, entities: set[str]) -> set[str]:
        return {entity for entity in entities if self.denied(entity) is None}

    def hidden(self, entity: str) -> set[str]:
        """Fields of ``entity`` the user may not read (field-level security)."""
        full = self.org.full_schema.get(entity)
        if full is None:
            return set()
        view = self.org.schema_for(self.user_id).get(entity)
        visible = {f.name for f in view.fields.values()} if view is not None else set()
        return {f.name for f in full.fields.values()} - visible

    def payload(self, event: StoredEvent) -> bytes:
        """The event as this user receives it."""
        if self.org.permissions.grants(self.user_id).modify_all_data:
            return event.payload
        hidden = self.hidden(event.entity)
        if not hidden:
            return event.payload
        known = self._schema(event.schema_id)
        if known is None:
            return event.payload
        parsed, fields, positions = known
        cleared = {name: where for name, where in positions.items() if name in hidden}
        if not cleared:
            return event.payload
        record = schemaless_reader(io.BytesIO(event.payload), parsed, None)
        assert isinstance(record, dict)
        header = record["ChangeEventHeader"]
        for name in BITMAPS:
            header[name] = clear_bits(header.get(name) or [], cleared.values())
        for name, (position, index) in cleared.items():
            slot = str(fields[position]["name"])
            if index is None:
                record[slot] = None
                continue
            value = record.get(slot)
            if not isinstance(value, dict):
                continue
            prefix = "" if slot == "Name" else slot.removesuffix("Address")
            value[name[len(prefix) :]] = None
            if all(part is None for part in value.values()):
                record[slot] = None
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed, record)
        return buffer.getvalue()

    def _schema(self, schema_id: str) -> tuple[Any, list[dict[str, Any]], dict[str, Any]] | None:
        cached = self._schemas.get(schema_id)
        if cached is None:
            text = self.org.pubsub_bus.schema_json(schema_id)
            if text is None:
                return None
            doc = json.loads(text)
            positions = positions_of(doc)
            cached = (parse_schema(doc), doc["fields"], positions)
            self._schemas[schema_id] = cached
        return cached
