"""Profiles and permission sets as records: the seeded profiles and deploying a permission set.

Seeded profiles (each with the permission set it owns, ``IsOwnedByProfile``):

* ``System Administrator`` (``00e000000000001AAA``): Modify All Data, View All Data, View Setup,
  Manage Users, Assign Permission Sets, API Enabled, ... (the admin user's profile);
* ``Standard User`` (``00e000000000002AAA``): read, create, edit and delete of Account,
  Contact, Opportunity and Case, read/edit of their standard fields, Edit Tasks/Events, API
  Enabled (the profile of users created without one);
* ``Minimum Access - API Only Integrations`` (``00e000000000003AAA``): API Enabled and
  nothing else (the integration user's profile).

Deploying a permission set creates or updates its PermissionSet record (by Name) and replaces
its ObjectPermissions and FieldPermissions rows: rows for the same object or field keep their
Id, rows the new version leaves out are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox import ids
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Record
from salesforce_sandbox.schema.model import Schema
from salesforce_sandbox.schema.permission_set import (
    USER_PERMISSIONS,
    FieldGrant,
    ObjectGrant,
    PermissionSetSpec,
    permissionable,
)
from salesforce_sandbox.schema.standard import (
    API_ONLY_PROFILE_ID,
    STANDARD_USER_PROFILE_ID,
    SYSTEM_ADMINISTRATOR_PROFILE_ID,
)

STANDARD_USER_OBJECTS = ("Account", "Contact", "Opportunity", "Case")


@dataclass(frozen=True)
class ProfileSeed:
    profile_id: str
    name: str
    permission_set_id: str
    user_permissions: frozenset[str]
    objects: tuple[str, ...] = field(default=())


PROFILES = (
    ProfileSeed(
        SYSTEM_ADMINISTRATOR_PROFILE_ID,
        "System Administrator",
        ids.make_id("0PS", 1),
        frozenset(USER_PERMISSIONS) - {"ApiUserOnly"},
    ),
    ProfileSeed(
        STANDARD_USER_PROFILE_ID,
        "Standard User",
        ids.make_id("0PS", 2),
        frozenset({"ApiEnabled", "EditTask", "EditEvent"}),
        STANDARD_USER_OBJECTS,
    ),
    ProfileSeed(
        API_ONLY_PROFILE_ID,
        "Minimum Access - API Only Integrations",
        ids.make_id("0PS", 3),
        frozenset({"ApiEnabled", "ApiUserOnly"}),
    ),
)


def _flags(enabled: frozenset[str]) -> dict[str, bool]:
    return {f"Permissions{name}": name in enabled for name in USER_PERMISSIONS}


def _object_row(grant: ObjectGrant) -> dict[str, Any]:
    return {
        "SobjectType": grant.object,
        "PermissionsRead": grant.read,
        "PermissionsCreate": grant.create,
        "PermissionsEdit": grant.edit,
        "PermissionsDelete": grant.delete,
        "PermissionsViewAllRecords": grant.view_all,
        "PermissionsModifyAllRecords": grant.modify_all,
    }


def _field_row(grant: FieldGrant) -> dict[str, Any]:
    return {
        "SobjectType": grant.object,
        "Field": grant.field,
        "PermissionsRead": grant.read,
        "PermissionsEdit": grant.edit,
    }


def _live_children(records: Records, sobject: str, parent: str) -> list[Record]:
    out = []
    for record_id in records.store.lookup(sobject, "ParentId", parent):
        found = records.store.get(record_id)
        if found is not None and not found[1]:
            out.append(found[2])
    return out


def _sync_rows(
    records: Records,
    schema: Schema,
    sobject: str,
    parent: str,
    key: str,
    wanted: dict[str, dict[str, Any]],
) -> None:
    """Make ``parent``'s ``sobject`` rows be ``wanted`` (keyed by lowered ``key`` value)."""
    obj = schema.get(sobject)
    assert obj is not None, sobject
    existing = {str(r.get(key, "")).lower(): r for r in _live_children(records, sobject, parent)}
    for name, row in wanted.items():
        current = existing.pop(name, None)
        if current is None:
            records.create(obj, {"ParentId": parent, **row}, system=True)
            continue
        changes = {
            k: v for k, v in row.items() if k.startswith("Permissions") and current.get(k) != v
        }
        if changes:
            records.update(obj, str(current["Id"]), changes, system=True)
    for stale in existing.values():
        records.delete(obj, str(stale["Id"]), system=True)


def _permission_rows(
    records: Records,
    schema: Schema,
    set_id: str,
    objects: list[ObjectGrant],
    fields: list[FieldGrant],
) -> None:
    _sync_rows(
        records,
        schema,
        "ObjectPermissions",
        set_id,
        "SobjectType",
        {g.object.lower(): _object_row(g) for g in objects if g.any},
    )
    _sync_rows(
        records,
        schema,
        "FieldPermissions",
        set_id,
        "Field",
        {g.field.lower(): _field_row(g) for g in fields if g.read},
    )


def find_permission_set(records: Records, name: str) -> Record | None:
    """The (non-profile) permission set called ``name``."""
    for record_id in records.store.lookup("PermissionSet", "Name", name.lower()):
        found = records.store.get(record_id)
        if found is not None and not found[1] and not found[2].get("IsOwnedByProfile"):
            return found[2]
    return None


def apply_permission_set(records: Records, schema: Schema, spec: PermissionSetSpec) -> str:
    """Create or replace the permission set ``spec`` describes; returns its Id. Call inside a
    transaction, after ``schema.permission_set.check_against``."""
    obj = schema.get("PermissionSet")
    assert obj is not None
    values: dict[str, Any] = {
        "Label": spec.label,
        "Description": spec.description or None,
        "HasActivationRequired": spec.has_activation_required,
        **_flags(spec.user_permissions),
    }
    current = find_permission_set(records, spec.name)
    if current is None:
        set_id = records.create(obj, {"Name": spec.name, **values}, system=True)
    else:
        set_id = str(current["Id"])
        records.update(obj, set_id, values, system=True)
    _permission_rows(records, schema, set_id, spec.objects, spec.fields)
    return set_id


def seed_profiles(records: Records, schema: Schema) -> None:
    """Create the seeded profiles and their permission sets that are missing (see the module
    doc). Call inside a transaction."""
    profile_obj = schema.get("Profile")
    set_obj = schema.get("PermissionSet")
    assert profile_obj is not None and set_obj is not None
    for seed in PROFILES:
        if records.store.get(seed.profile_id) is None:
            records.create(
                profile_obj,
                {"Id": seed.profile_id, "Name": seed.name, "UserType": "Standard"},
                system=True,
            )
        if records.store.get(seed.permission_set_id) is not None:
            continue
        records.create(
            set_obj,
            {
                "Id": seed.permission_set_id,
                "Name": f"X{seed.profile_id[:15]}",
                "Label": seed.profile_id[:15],
                "IsOwnedByProfile": True,
                "IsCustom": False,
                "ProfileId": seed.profile_id,
                "Type": "Profile",
                **_flags(seed.user_permissions),
            },
            system=True,
        )
        objects = [ObjectGrant(name, True, True, True, True) for name in seed.objects]
        fields = [
            FieldGrant(f"{name}.{definition.name}", True, True)
            for name in seed.objects
            for obj in [schema.get(name)]
            if obj is not None
            for definition in obj.fields.values()
            if not definition.custom and permissionable(name, definition)
        ]
        _permission_rows(records, schema, seed.permission_set_id, objects, fields)
