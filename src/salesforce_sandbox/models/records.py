"""Records: create, update, upsert by external id, delete, retrieve, with Salesforce's checks.

Every operation checks everything before it writes, so a failed operation leaves no trace and
callers need no savepoint per record.

``obj`` may be a user's view of the object (``models.permissions.visible_schema``): the payload
is validated against it (field-level security), while defaults, keys and required fields come
from the full definition, and the object permission of the writing ``user`` is checked by the
permission model (``access``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from salesforce_sandbox import clock, ids
from salesforce_sandbox.errors import (
    MultipleRecords,
    SalesforceError,
    entity_is_deleted,
    not_found,
)
from salesforce_sandbox.models.permissions import PermissionModel
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.validation import (
    ExternalRef,
    Source,
    coerce_payload,
    coerce_value,
    missing_required,
)

_AUTONUMBER_RE = re.compile(r"\{(0+)\}")


class RecordHook(Protocol):
    """What an org feature adds to every record write (``Records.hooks``).

    ``before_write`` sees the record as it will be stored (defaults, payload and derived
    fields applied; ``current`` is the stored record on an update, None on a create) and may
    complete it or raise the ``SalesforceError`` the write fails with; ``after_write`` runs
    once it is stored."""

    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None: ...

    def after_write(self, obj: ObjectDef, record: Record) -> None: ...


class Records:
    """DML and retrieval over the store for the current schema."""

    def __init__(
        self,
        store: Store,
        schema: Callable[[], Schema],
        default_user: str,
        access: PermissionModel | None = None,
    ) -> None:
        """``schema`` returns the full schema; ``access`` checks object permissions (None:
        everything is allowed)."""
        self.store = store
        self._schema = schema
        self.default_user = default_user
        self.access = access
        self.id_generator = ids.IdGenerator()
        self.hooks: list[RecordHook] = []

    @property
    def schema(self) -> Schema:
        return self._schema()

    def _base(self, obj: ObjectDef) -> ObjectDef:
        """The full definition of ``obj`` (which may be a user's view of it)."""
        return self.schema.get(obj.name) or obj

    def _check(self, obj: ObjectDef, operation: str, user: str | None) -> None:
        if self.access is not None:
            self.access.check_write(obj, operation, user or self.default_user)

    def _noting(self, obj: ObjectDef, record: Record | None) -> None:
        if self.access is not None:
            self.access.on_write(obj.name, record)

    # ids ------------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        if not self.id_generator.known(prefix):
            last = self.store.max_id(prefix)
            self.id_generator.start_after(prefix, ids.counter_of(last) if last else 0)
        return self.id_generator.new(prefix)

    # lookups --------------------------------------------------------------------------------
    def load(self, obj: ObjectDef, record_id: str, deleted_status: int = 404) -> Record:
        normal = record_id if len(record_id) == 18 else ids.normalize(record_id)
        if normal is None or normal[:3] != obj.key_prefix:
            raise not_found()
        found = self.store.get(normal)
        if found is None:
            raise not_found()
        if found[1]:
            raise entity_is_deleted(deleted_status)
        return found[2]

    def find_external(self, obj: ObjectDef, definition: FieldDef, value: Any) -> list[str]:
        key = _external_key(definition, value)
        if key is None:
            return []
        return self.store.lookup(obj.name, definition.name, key)

    def prefetch_external(
        self, obj: ObjectDef, definition: FieldDef, values: list[Any]
    ) -> dict[str, list[str]]:
        """Index key -> matching ids for many external id values at once."""
        keys = []
        for value in values:
            try:
                key = _external_key(definition, value)
            except SalesforceError:
                continue
            if key is not None:
                keys.append(key)
        out: dict[str, list[str]] = {k: [] for k in keys}
        for key, record_id in self.store.lookup_pairs(obj.name, definition.name, keys):
            out.setdefault(key, []).append(record_id)
        return out

    def external_field(self, obj: ObjectDef, name: str) -> FieldDef:
        definition = obj.field(name)
        if definition is None:
            raise not_found()
        if not (definition.external_id or definition.unique or definition.type == "id"):
            raise SalesforceError(
                "INVALID_FIELD",
                f"Field name provided, {definition.name} is not an External ID or indexed field "
                f"for {obj.name}",
                fields=[definition.name],
            )
        return definition

    # writes ---------------------------------------------------------------------------------
    def create(
        self,
        obj: ObjectDef,
        payload: Mapping[str, Any],
        source: Source = "json",
        system: bool = False,
        user: str | None = None,
        checked_unique: str | None = None,
    ) -> str:
        """Insert a record; ``checked_unique`` names a unique field the caller just found free."""
        view, obj = obj, self._base(obj)
        if not system:
            self._check(obj, "create", user)
            if not obj.createable:
                raise SalesforceError(
                    "INVALID_TYPE", f"Cannot create records of type {obj.name}", fields=[]
                )
        values, refs = coerce_payload(view, payload, "create", source, system)
        self._resolve_refs(values, refs)
        user = user or self.default_user
        now = clock.now_text()
        record: Record = {}
        for definition in obj.default_fields:
            record[definition.name] = definition.default
        record.update({k: v for k, v in values.items() if v is not None or k not in record})
        record_id = str(values.get("Id") or self.new_id(obj.key_prefix))
        if values.get("Id") and self.store.get(record_id) is not None:
            raise SalesforceError(
                "DUPLICATE_VALUE",
                f"duplicate value found: Id duplicates value on record with id: {record_id[:15]}",
                fields=["Id"],
            )
        record["Id"] = record_id
        record["IsDeleted"] = False
        record.setdefault("CreatedDate", now)
        record.setdefault("CreatedById", user)
        record.setdefault("LastModifiedDate", record["CreatedDate"])
        record.setdefault("LastModifiedById", user)
        record.setdefault("SystemModstamp", record["LastModifiedDate"])
        if obj.has_owner and record.get("OwnerId") is None:
            record["OwnerId"] = user
        self._derive(obj, record)
        for hook in self.hooks:
            hook.before_write(obj, record, None, user)
        error = missing_required(obj, record)
        if error is not None:
            raise error
        if not system:
            self._check_references(obj, values)
        self._autonumber(obj, record)
        keys = self._keys(obj, record, record_id, skip=checked_unique)
        self._noting(obj, record)
        self.store.insert(obj.name, record_id, _sparse(record))
        self.store.set_keys(obj.name, record_id, keys, fresh=True)
        for hook in self.hooks:
            hook.after_write(obj, record)
        return record_id

    def update(
        self,
        obj: ObjectDef,
        record_id: str,
        payload: Mapping[str, Any],
        source: Source = "json",
        user: str | None = None,
        deleted_status: int = 404,
        system: bool = False,
    ) -> str:
        view, obj = obj, self._base(obj)
        if not system:
            self._check(obj, "update", user)
        current = self.load(obj, record_id, deleted_status)
        values, refs = coerce_payload(view, payload, "update", source, system)
        self._resolve_refs(values, refs)
        record = dict(current)
        record.update(values)
        now = clock.now_text()
        record["LastModifiedDate"] = now
        record["LastModifiedById"] = user or self.default_user
        record["SystemModstamp"] = now
        self._derive(obj, record)
        for hook in self.hooks:
            hook.before_write(obj, record, current, record["LastModifiedById"])
        error = missing_required(obj, record)
        if error is not None:
            raise error
        self._check_references(obj, values)
        rid = str(current["Id"])
        keys = self._keys(obj, record, rid)
        self._noting(obj, record)
        self.store.replace(rid, _sparse(record))
        if keys != self._keys(obj, current, rid, check=False):
            self.store.set_keys(obj.name, rid, keys)
        for hook in self.hooks:
            hook.after_write(obj, record)
        return rid

    def upsert(
        self,
        obj: ObjectDef,
        field_name: str,
        value: Any,
        payload: Mapping[str, Any],
        source: Source = "json",
        user: str | None = None,
        version: str = "59.0",
        known: dict[str, list[str]] | None = None,
    ) -> tuple[str, bool]:
        """Create or update by external id; returns (id, created).

        ``known`` maps index keys of the external id field to matching ids (prefetched by
        Bulk API chunks); it is kept up to date with what this call creates.
        """
        definition = self.external_field(obj, field_name)
        body = {k: v for k, v in payload.items() if k.lower() != definition.lower}
        if definition.type == "id":
            if value in (None, ""):
                return self.create(obj, body, source, user=user), True
            return self.update(obj, str(value), body, source, user=user), False
        if value is None or value == "":
            raise SalesforceError(
                "MISSING_ARGUMENT",
                f"{definition.name} not specified",
                fields=[definition.name],
            )
        if known is not None:
            key = _external_key(definition, value) or ""
            matches = known.get(key, [])
        else:
            matches = self.find_external(obj, definition, value)
        if len(matches) > 1:
            raise MultipleRecords(
                [f"/services/data/v{version}/sobjects/{obj.name}/{m}" for m in matches], matches
            )
        if matches:
            return self.update(obj, matches[0], body, source, user=user), False
        body[definition.name] = value
        created = self.create(obj, body, source, user=user, checked_unique=definition.name)
        if known is not None:
            known[key] = [created]
        return created, True

    def delete(
        self, obj: ObjectDef, record_id: str, user: str | None = None, system: bool = False
    ) -> str:
        obj = self._base(obj)
        if not system:
            self._check(obj, "delete", user)
        current = self.load(obj, record_id)
        if not obj.deletable and not system:
            raise SalesforceError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights")
        for hook in self.hooks:  # a hook may refuse a delete (optional ``before_delete``)
            refuse = getattr(hook, "before_delete", None)
            if refuse is not None:
                refuse(obj, current)
        rid = self._to_recycle_bin(obj.name, current, user)
        if obj.name == "Account":  # as Salesforce does: the Account's Contacts go with it
            for contact in list(self.store.scan("Contact", False)):
                if contact.get("AccountId") == rid:
                    self._to_recycle_bin("Contact", contact, user)
        return rid

    def _to_recycle_bin(self, sobject: str, current: Record, user: str | None) -> str:
        record = dict(current)
        now = clock.now_text()
        record["IsDeleted"] = True
        record["LastModifiedDate"] = now
        record["LastModifiedById"] = user or self.default_user
        record["SystemModstamp"] = now
        rid = str(current["Id"])
        if self.access is not None:
            self.access.on_write(sobject, None)
        self.store.replace(rid, _sparse(record), deleted=True)
        self.store.drop_keys(rid)
        for hook in self.hooks:  # optional ``after_delete(sobject, record)`` (change events)
            deleted = getattr(hook, "after_delete", None)
            if deleted is not None:
                deleted(sobject, record)
        return rid

    def check_unique(self, obj: ObjectDef, record: Record, record_id: str) -> None:
        """DUPLICATE_VALUE when ``record`` (about to be written as ``record_id``) would repeat
        a unique field's value of another record; nothing is written."""
        self._keys(self._base(obj), record, record_id)

    def reindex(self, obj: ObjectDef) -> int:
        """Rebuild the value index of ``obj`` (after a deploy changed which fields are keyed)."""
        count = 0
        for record in list(self.store.scan(obj.name, False)):
            rid = str(record["Id"])
            self.store.set_keys(obj.name, rid, self._keys(obj, record, rid, check=False))
            count += 1
        return count

    # reads ----------------------------------------------------------------------------------
    def retrieve(
        self, obj: ObjectDef, record_id: str, fields: list[str] | None, version: str
    ) -> Record:
        if ids.normalize(record_id) is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {record_id}"
            )
        record = self.load(obj, record_id)
        return self.shape(obj, record, fields, version)

    def shape(
        self, obj: ObjectDef, record: Record, fields: list[str] | None, version: str
    ) -> Record:
        out: Record = {
            "attributes": {
                "type": obj.name,
                "url": f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}",
            }
        }
        if fields:
            for name in fields:
                definition = obj.field(name.strip())
                if definition is None:
                    raise SalesforceError(
                        "INVALID_FIELD",
                        f"No such column '{name.strip()}' on entity '{obj.name}'. If you are "
                        "attempting to use a custom field, be sure to append the '__c' after the "
                        "custom field name. Please reference your WSDL or the describe call for "
                        "the appropriate names.",
                    )
                out[definition.name] = record.get(definition.name)
        else:
            for definition in obj.fields.values():
                out[definition.name] = record.get(definition.name)
        return out

    # helpers --------------------------------------------------------------------------------
    def _resolve_refs(self, values: dict[str, Any], refs: Iterable[ExternalRef]) -> None:
        for ref in refs:
            target = self.schema.get(ref.target)
            ext = target.field(ref.ext_field) if target else None
            if target is None or ext is None:
                raise SalesforceError(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {ref.value} not found for field {ref.ext_field} "
                    f"in entity {ref.target}",
                    fields=[ref.field.name],
                )
            matches = self.find_external(target, ext, ref.value)
            if len(matches) != 1:
                word = "not found" if not matches else "matched more than one record"
                raise SalesforceError(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {ref.value} {word} for field {ext.name} in "
                    f"entity {target.name}",
                    fields=[ref.field.name],
                )
            values[ref.field.name] = matches[0]

    def _check_references(self, obj: ObjectDef, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if value is None:
                continue
            definition = obj.field(name)
            if definition is None or definition.type != "reference":
                continue
            target = self.schema.of_id(str(value))
            found = self.store.get(str(value))
            if found is not None and found[1]:  # in the recycle bin, as Salesforce answers it
                raise SalesforceError(
                    "ENTITY_IS_DELETED", "entity is deleted", fields=[definition.name]
                )
            if found is None or target is None:
                raise SalesforceError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    fields=[definition.name],
                )
            polymorphic_what = definition.name == "WhatId" and target.custom
            if target.name not in definition.reference_to and not polymorphic_what:
                raise SalesforceError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{definition.label}: id value of incorrect type: {value}",
                    fields=[definition.name],
                )

    def _derive(self, obj: ObjectDef, record: Record) -> None:
        """Formula-like standard fields: Name of people, IsClosed/IsWon from the status."""
        name = obj.name
        if name in ("Contact", "User"):
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(str(p) for p in parts if p) or None
        elif name == "Task":  # IsClosed follows the status, as its closed values define it
            record["IsClosed"] = record.get("Status") == "Completed"
        elif name == "Case":
            record["IsClosed"] = record.get("Status") == "Closed"
        elif name == "Opportunity":
            stage = str(record.get("StageName") or "")
            record["IsClosed"] = stage.startswith("Closed")
            record["IsWon"] = stage == "Closed Won"

    def _keys(
        self,
        obj: ObjectDef,
        record: Record,
        record_id: str,
        check: bool = True,
        skip: str | None = None,
    ) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for definition in obj.keyed_fields:
            value = record.get(definition.name)
            if value is None:
                continue
            key = definition.normalize_key(value)
            if check and definition.unique and definition.name != skip:
                others = [
                    i for i in self.store.lookup(obj.name, definition.name, key) if i != record_id
                ]
                if others:
                    raise SalesforceError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {definition.name} duplicates value on record "
                        f"with id: {others[0][:15]}",
                        fields=[definition.name],
                    )
            keys.append((definition.name, key))
        return keys

    def _autonumber(self, obj: ObjectDef, record: Record) -> None:
        for definition in obj.autonumber_fields:
            if record.get(definition.name) is not None:
                continue
            counter_name = f"autonumber:{obj.name}.{definition.name}"
            number = int(self.store.meta_get(counter_name) or 0) + 1
            self.store.meta_set(counter_name, number)
            fmt = str(definition.auto_number)  # autonumber_fields have one

            def pad(match: re.Match[str], n: int = number) -> str:
                return str(n).rjust(len(match.group(1)), "0")

            record[definition.name] = _AUTONUMBER_RE.sub(pad, fmt) if "{" in fmt else str(number)


def _external_key(definition: FieldDef, value: Any) -> str | None:
    """Index key of an external id value as given (CSV text or JSON), None for no value."""
    stored = coerce_value(definition, value, "csv")
    return None if stored is None else definition.normalize_key(stored)


def _sparse(record: Record) -> Record:
    return {k: v for k, v in record.items() if v is not None}


class StoreSource:
    """The store as a SOQL ``RecordSource``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def scan(self, sobject: str, include_deleted: bool) -> Iterable[Record]:
        return self.store.scan(sobject, include_deleted)

    def by_ids(self, sobject: str, id_list: list[str], include_deleted: bool) -> Iterable[Record]:
        found = self.store.get_many(sorted(set(id_list)))
        return [
            data
            for _, (kind, deleted, data) in sorted(found.items())
            if kind == sobject and (include_deleted or not deleted)
        ]

    def by_key(
        self, sobject: str, field: str, keys: list[str], include_deleted: bool
    ) -> Iterable[Record]:
        matched = self.store.lookup_many(sobject, field, keys)
        return self.by_ids(sobject, matched, include_deleted)

    def get(self, record_id: str) -> Record | None:
        found = self.store.get(record_id)
        if found is None or found[1]:
            return None
        return found[2]
