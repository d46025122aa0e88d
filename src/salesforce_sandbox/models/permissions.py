"""Who may see and change what: the org's permission model, in one place.

A user's effective permissions (``Grants``) are the union of the permission set its profile owns
(``PermissionSet.IsOwnedByProfile``, ``ProfileId``) and the permission sets assigned to it
(``PermissionSetAssignment``), read from the records: ``PermissionSet.Permissions<Name>``
flags, ``ObjectPermissions`` and ``FieldPermissions`` rows.

Decisions (pure functions below, ``object_access`` / ``field_access`` / ``visible_schema`` /
``write_denied``):

* "Modify All Data" (the System Administrator profile) may do everything; nothing is checked.
* Setup objects (User, Group, Organization, Profile, PermissionSet, PermissionSetAssignment,
  CurrencyType) are readable by every user, ObjectPermissions and FieldPermissions with "View
  Setup" or "View All Data"; writing them takes "Modify All Data" (assignments also "Assign
  Permission Sets" or "Manage Users", users "Manage Users", currencies "Customize
  Application").
* Task and Event are readable by every user; writing them takes "Edit Tasks" / "Edit Events".
* Every other object (Account, Contact, Case, custom objects, ...) needs object permissions;
  "View All Data" reads them all. Opportunity products and contact roles follow Opportunity's,
  price book entries Pricebook2's (``CONTROLLED_BY_PARENT``): no permission set names them.
* Change events (Change Data Capture ignores sharing) take View All Records on their object,
  View All Users for User, View All Data for Task and Event (``change_events_denied``); the
  fields of a delivered event are those the user may read.
* A field that field-level security governs (``schema.permission_set.permissionable``) is
  visible with a read FieldPermissions row and writable with an edit row; other fields follow
  their object.

How the API sees it: a request runs ``with org.acting_as(user_id)``; ``org.schema`` is then the
user's view of the schema (``visible_schema``): objects it cannot read are absent (describe
answers NOT_FOUND, SOQL INVALID_TYPE, Collections INVALID_TYPE), fields it cannot read are
absent (describe leaves them out, SOQL answers INVALID_FIELD "No such column", a write
INVALID_FIELD), fields it can read but not edit are neither createable nor updateable (a write
answers INVALID_FIELD_FOR_INSERT_UPDATE). Record writes check the object permission
(``PermissionModel.check_write``, called by ``Records``).

Effective permissions (and views) are cached per user under a version that every write to a
permission record, profile or user moves (``note_write``). While a transaction holding such a
write is open nothing is cached, and the version moves again once it ends, so a rolled-back
assignment never leaves a stale grant behind.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.schema.permission_set import (
    ACTIVITY_PERMISSION,
    SETUP_OBJECTS,
    USER_PERMISSIONS,
    VIEW_SETUP_OBJECTS,
    ObjectGrant,
    permissionable,
)
from salesforce_sandbox.schema.person_accounts import governing_field

# writes to these objects change someone's effective permissions
WATCHED = frozenset(
    {
        "user",
        "profile",
        "permissionset",
        "permissionsetassignment",
        "objectpermissions",
        "fieldpermissions",
    }
)


@dataclass(frozen=True)
class ObjectAccess:
    read: bool = False
    create: bool = False
    edit: bool = False
    delete: bool = False


@dataclass(frozen=True)
class FieldAccess:
    read: bool = False
    edit: bool = False


FULL_OBJECT = ObjectAccess(True, True, True, True)
READ_ONLY = ObjectAccess(read=True)
NO_OBJECT = ObjectAccess()
FULL_FIELD = FieldAccess(True, True)


@dataclass(frozen=True)
class Grants:
    """A user's effective permissions: user permission names, object grants keyed by lowered
    object name, field grants keyed by lowered ``object.field``."""

    user_id: str
    user_permissions: frozenset[str] = frozenset()
    objects: dict[str, ObjectGrant] = field(default_factory=dict)
    fields: dict[str, FieldAccess] = field(default_factory=dict)

    @property
    def modify_all_data(self) -> bool:
        return "ModifyAllData" in self.user_permissions

    @property
    def view_all_data(self) -> bool:
        return self.modify_all_data or "ViewAllData" in self.user_permissions

    @property
    def api_enabled(self) -> bool:
        return "ApiEnabled" in self.user_permissions


# decisions (pure) -----------------------------------------------------------------------------
# Objects a permission set cannot name: their access is their parent's ("controlled by
# parent"): an Opportunity's products and contact roles follow Opportunity (editing the
# Opportunity adds, edits and deletes them), a price book's entries follow Pricebook2.
CONTROLLED_BY_PARENT = {
    "opportunitylineitem": "opportunity",
    "opportunitycontactrole": "opportunity",
    "pricebookentry": "pricebook2",
}


def object_access(grants: Grants, obj: ObjectDef) -> ObjectAccess:
    perms = grants.user_permissions
    if grants.modify_all_data:
        return FULL_OBJECT
    name = obj.name.lower()
    parent = CONTROLLED_BY_PARENT.get(name)
    if parent is not None:
        grant = grants.objects.get(parent)
        if grant is None:
            return READ_ONLY if grants.view_all_data else NO_OBJECT
        read = grant.read or grants.view_all_data
        return ObjectAccess(read, grant.edit, grant.edit, grant.edit)
    if name in SETUP_OBJECTS:
        if name in VIEW_SETUP_OBJECTS and not ({"ViewSetup", "ViewAllData"} & perms):
            return NO_OBJECT
        writers = {
            "permissionsetassignment": {"AssignPermissionSets", "ManageUsers"},
            "user": {"ManageUsers"},
            "currencytype": {"CustomizeApplication"},
        }.get(name, set())
        write = bool(writers & perms)
        return ObjectAccess(True, write, write, write)
    if name in ACTIVITY_PERMISSION:
        write = ACTIVITY_PERMISSION[name] in perms
        return ObjectAccess(True, write, write, write)
    grant = grants.objects.get(name)
    if grant is None:
        return READ_ONLY if grants.view_all_data else NO_OBJECT
    return ObjectAccess(grant.read or grants.view_all_data, grant.create, grant.edit, grant.delete)


def field_access(grants: Grants, obj: ObjectDef, definition: FieldDef) -> FieldAccess:
    if grants.modify_all_data or not permissionable(obj.name, definition):
        return FULL_FIELD
    found = grants.fields.get(f"{obj.name}.{definition.name}".lower())
    if found is not None:
        return found
    return FieldAccess()


def visible_schema(schema: Schema, grants: Grants) -> Schema:
    """The schema as ``grants`` see it (see the module doc); the full schema for an admin."""
    if grants.modify_all_data:
        return schema
    objects = []
    for obj in schema.objects():
        access = object_access(grants, obj)
        if not access.read:
            continue
        view = ObjectDef(
            obj.name,
            obj.key_prefix,
            obj.label,
            obj.label_plural,
            obj.custom,
            createable=obj.createable and access.create,
            updateable=obj.updateable and access.edit,
            deletable=obj.deletable and access.delete,
            rules=obj.rules,
        )
        for definition in obj.fields.values():
            # a person account's person fields follow their Contact fields' security
            rights = field_access(grants, *governing_field(schema, obj, definition))
            if not rights.read:
                continue
            if rights.edit:
                view.add(definition)
            else:
                view.add(replace(definition, createable=False, updateable=False))
        objects.append(view)
    return Schema(objects)


def write_denied(grants: Grants, obj: ObjectDef, operation: str) -> SalesforceError | None:
    """The error a write (``create``, ``update`` or ``delete``) of ``obj`` records fails with,
    or None when the object permissions allow it."""
    access = object_access(grants, obj)
    if operation == "create" and not access.create:
        return SalesforceError(
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", f"entity type cannot be inserted: {obj.label}"
        )
    if operation == "update" and not access.edit:
        return SalesforceError(
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", f"entity type cannot be updated: {obj.label}"
        )
    if operation == "delete" and not access.delete:
        return SalesforceError(
            "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
        )
    return None


def change_events_denied(grants: Grants, obj: ObjectDef) -> str | None:
    """The permission ``grants`` lack to receive ``obj``'s change events, in Setup's words
    (None: they may). Change Data Capture ignores sharing, so it asks for more than read
    ("Required Permissions for Change Event Subscribers"): View All Records on the object, View
    All Users for User, View All Data for objects without View All Records (Task, Event) or
    instead of any of them; "Modify All Data" (System Administrator) may receive everything."""
    if grants.modify_all_data:
        return None
    name = obj.name.lower()
    if name == "user":
        return None if "ViewAllUsers" in grants.user_permissions else "View All Users"
    if grants.view_all_data:
        return None
    if name in ACTIVITY_PERMISSION or name in SETUP_OBJECTS:
        return "View All Data"
    grant = grants.objects.get(name)
    if grant is not None and grant.view_all:
        return None
    return f"View All Records on {obj.name} (or View All Data)"


def api_disabled() -> SalesforceError:
    return SalesforceError("API_CURRENTLY_DISABLED", "API is disabled for this User", 403)


# the acting user ------------------------------------------------------------------------------
_ACTING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "salesforce_sandbox_acting_user", default=None
)


def acting_user() -> str | None:
    """The user the current API request runs as (None: the system, e.g. the control plane)."""
    return _ACTING.get()


# lookup and cache -----------------------------------------------------------------------------
class PermissionModel:
    """Effective permissions read from the store, cached per user (see the module doc)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._version = 0
        self._dirty = False  # a permission write may still be rolled back
        self._grants: dict[str, tuple[int, Grants]] = {}
        self._views: dict[str, tuple[int, Schema, Schema]] = {}

    # cache ------------------------------------------------------------------------------------
    def note_write(self, sobject: str) -> None:
        """Called for every record written, before it is stored."""
        if sobject.lower() in WATCHED:
            self._version += 1
            self._dirty = True

    def _current(self) -> int | None:
        """The cache version; None while a transaction with a permission write is open."""
        if self._dirty:
            if self.store.conn.in_transaction:
                return None
            self._dirty = False
            self._version += 1
        return self._version

    def invalidate(self) -> None:
        """Forget every cached grant (after a reset wiped the records)."""
        self._grants.clear()
        self._views.clear()
        self._version += 1

    # lookup -----------------------------------------------------------------------------------
    def grants(self, user_id: str) -> Grants:
        version = self._current()
        cached = self._grants.get(user_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        grants = self._read(user_id)
        if version is not None:
            self._grants[user_id] = (version, grants)
        return grants

    def _live(self, record_id: str) -> Record | None:
        found = self.store.get(record_id)
        if found is None or found[1]:
            return None
        return found[2]

    def _children(self, sobject: str, field_name: str, parent: str) -> list[Record]:
        rows = []
        for record_id in self.store.lookup(sobject, field_name, parent):
            record = self._live(record_id)
            if record is not None:
                rows.append(record)
        return rows

    def permission_set_ids(self, user_id: str) -> list[str]:
        """The permission sets that apply to a user: its profile's, then its assignments'."""
        user = self._live(user_id)
        if user is None or user.get("IsActive") is False:
            return []
        out: list[str] = []
        profile_id = user.get("ProfileId")
        if profile_id:
            out.extend(
                str(r["Id"])
                for r in self._children("PermissionSet", "ProfileId", str(profile_id))
                if r.get("IsOwnedByProfile")
            )
        for row in self._children("PermissionSetAssignment", "AssigneeId", user_id):
            if row.get("IsActive", True) and row.get("PermissionSetId"):
                out.append(str(row["PermissionSetId"]))
        return out

    def _read(self, user_id: str) -> Grants:
        perms: set[str] = set()
        objects: dict[str, ObjectGrant] = {}
        fields: dict[str, FieldAccess] = {}
        for set_id in self.permission_set_ids(user_id):
            record = self._live(set_id)
            if record is None:
                continue
            perms.update(n for n in USER_PERMISSIONS if record.get(f"Permissions{n}"))
            for row in self._children("ObjectPermissions", "ParentId", set_id):
                name = str(row.get("SobjectType") or "")
                grant = ObjectGrant(
                    name,
                    bool(row.get("PermissionsRead")),
                    bool(row.get("PermissionsCreate")),
                    bool(row.get("PermissionsEdit")),
                    bool(row.get("PermissionsDelete")),
                    bool(row.get("PermissionsViewAllRecords")),
                    bool(row.get("PermissionsModifyAllRecords")),
                ).implied()
                before = objects.get(name.lower())
                if before is not None:
                    grant = ObjectGrant(
                        name,
                        before.read or grant.read,
                        before.create or grant.create,
                        before.edit or grant.edit,
                        before.delete or grant.delete,
                        before.view_all or grant.view_all,
                        before.modify_all or grant.modify_all,
                    )
                objects[name.lower()] = grant
            for row in self._children("FieldPermissions", "ParentId", set_id):
                key = str(row.get("Field") or "").lower()
                edit = bool(row.get("PermissionsEdit"))
                read = bool(row.get("PermissionsRead")) or edit
                before_field = fields.get(key, FieldAccess())
                fields[key] = FieldAccess(before_field.read or read, before_field.edit or edit)
        return Grants(user_id, frozenset(perms), objects, fields)

    # what the org asks ------------------------------------------------------------------------
    def schema_for(self, schema: Schema, user_id: str | None) -> Schema:
        """``schema`` as ``user_id`` sees it (the system, None, sees everything)."""
        if user_id is None:
            return schema
        grants = self.grants(user_id)
        if grants.modify_all_data:
            return schema
        version = self._current()
        cached = self._views.get(user_id)
        if cached is not None and cached[0] == version and cached[1] is schema:
            return cached[2]
        view = visible_schema(schema, grants)
        if version is not None:
            self._views[user_id] = (version, schema, view)
        return view

    def check_write(self, obj: ObjectDef, operation: str, user_id: str) -> None:
        """Raise the error Salesforce answers when ``user_id`` may not ``operation`` ``obj``."""
        error = write_denied(self.grants(user_id), obj, operation)
        if error is not None:
            raise error

    def check_api(self, user_id: str) -> None:
        if not self.grants(user_id).api_enabled:
            raise api_disabled()

    def on_write(self, sobject: str, record: Record | None) -> None:
        """Called by ``Records`` before it stores a new or changed record (None: a delete)."""
        if record is not None and sobject == "PermissionSetAssignment":
            self.check_assignment(record)
        self.note_write(sobject)

    def check_assignment(self, record: Record) -> None:
        """A user gets a permission set once: DUPLICATE_VALUE for a second assignment."""
        assignee = str(record.get("AssigneeId") or "")
        permission_set = record.get("PermissionSetId")
        for row in self._children("PermissionSetAssignment", "AssigneeId", assignee):
            if row.get("PermissionSetId") == permission_set and row.get("Id") != record.get("Id"):
                raise SalesforceError(
                    "DUPLICATE_VALUE",
                    f"Duplicate PermissionSetAssignment. Assignee: {assignee[:15]}; "
                    f"Permission Set: {str(permission_set)[:15]}",
                )

    @contextlib.contextmanager
    def acting_as(self, user_id: str) -> Iterator[None]:
        """Run the block as ``user_id`` (``acting_user()``); API_CURRENTLY_DISABLED when its
        permissions lack "API Enabled"."""
        self.check_api(user_id)
        token = _ACTING.set(user_id)
        try:
            yield
        finally:
            _ACTING.reset(token)
