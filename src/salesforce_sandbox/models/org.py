"""The org: schema (standard + deployed metadata), records, the permission model, sessions,
API usage, faults, query cursors and Bulk API 2.0 jobs, over one SQLite store.

An API request runs ``with org.acting_as(user_id)``: ``org.schema`` (and ``org.object``) are
then that user's view of the schema and record writes check its object permissions
(``models.permissions``). Outside a request (control plane, tests, seeding) the org acts as
the system and sees everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from salesforce_sandbox import ids
from salesforce_sandbox.config import (
    ADMIN_USER_ID,
    INTEGRATION_USER_ID,
    QUEUE_ID,
    Settings,
)
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.features import OrgFeatures
from salesforce_sandbox.models.auth import Session, Sessions
from salesforce_sandbox.models.bulk import BulkJobs
from salesforce_sandbox.models.bulk1 import ClassicJobs
from salesforce_sandbox.models.currencies import Currencies
from salesforce_sandbox.models.duplicates import DuplicateManagement
from salesforce_sandbox.models.faults import Faults
from salesforce_sandbox.models.limits import ApiUsage
from salesforce_sandbox.models.org_rules import OrgRules
from salesforce_sandbox.models.permission_sets import apply_permission_set, seed_profiles
from salesforce_sandbox.models.permissions import PermissionModel, acting_user
from salesforce_sandbox.models.person_accounts import PersonAccounts
from salesforce_sandbox.models.products import Products
from salesforce_sandbox.models.queries import Queries
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Store
from salesforce_sandbox.pubsub.bus import EventBus
from salesforce_sandbox.pubsub.capture import ChangeCapture
from salesforce_sandbox.schema import sfdx
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.schema.objects import standard_objects
from salesforce_sandbox.schema.permission_set import (
    PermissionSetSpec,
    check_against,
    parse_permission_set,
)
from salesforce_sandbox.schema.standard import API_ONLY_PROFILE_ID, SYSTEM_ADMINISTRATOR_PROFILE_ID

SCHEMA_META = "schema.custom"
PERMISSION_SETS_META = "permission_sets.deployed"
INTEGRATION_USERNAME = "integration@sandbox.example.com"


class Org:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.data_dir is not None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_path)
        self._schema = Schema(standard_objects())
        self.permissions = PermissionModel(self.store)
        self.records = Records(self.store, lambda: self._schema, ADMIN_USER_ID, self.permissions)
        self.currencies = Currencies(self.store, self.records, lambda: self._schema)
        self.records.hooks.append(self.currencies)
        self.person_accounts = PersonAccounts(self.store, self.records, lambda: self._schema)
        self.records.hooks.append(self.person_accounts)
        self.products = Products(self.store, self.records, lambda: self._schema)
        self.records.hooks.append(self.products)  # a line's product and prices, primary roles
        self.rules = OrgRules(self.store, self.records, lambda: self._schema)
        self.records.hooks.append(self.rules)  # record types, validation rules
        # duplicate rules last: they see the record as the other hooks complete it
        self.duplicates = DuplicateManagement(self.store, self.records, lambda: self._schema)
        self.records.hooks.append(self.duplicates)
        # change events (Pub/Sub API) last of all: they see the record as it is stored
        self.pubsub_bus = EventBus(self.store, settings.pubsub_retention_hours)
        self.pubsub_capture = ChangeCapture(self.pubsub_bus, lambda: self._schema)
        self.records.hooks.append(self.pubsub_capture)
        self.sessions = Sessions(settings, self.find_user)
        self.usage = ApiUsage(settings.api_limit)
        self.faults = Faults()
        self.queries = Queries(self.store)
        self.bulk = BulkJobs(self.store, self.records, self.schema_for, self.usage)
        self.bulk1 = ClassicJobs(self.bulk, self.usage)  # Bulk API 1.0
        self._load_saved_schema()
        self.features = OrgFeatures(self)  # org features: saved ones and the settings'
        self.features.start(settings.features)
        self.rules.load(self._schema)
        self.seed_defaults()  # first: the seeded profiles' permission sets have fixed Ids
        for directory in settings.metadata_dirs:
            self.deploy_dir(directory)

    # schema ---------------------------------------------------------------------------------
    @property
    def schema(self) -> Schema:
        """The schema as the acting user sees it (all of it outside a request)."""
        return self.permissions.schema_for(self._schema, acting_user())

    @schema.setter
    def schema(self, value: Schema) -> None:
        self._schema = value

    @property
    def full_schema(self) -> Schema:
        return self._schema

    def features_changed(self) -> None:
        """A feature changed the schema in place: users' views of it are built again."""
        self.permissions.invalidate()

    def schema_for(self, user_id: str | None) -> Schema:
        """The schema as ``user_id`` sees it (None: the system, all of it)."""
        return self.permissions.schema_for(self._schema, user_id)

    @contextlib.contextmanager
    def acting_as(self, user_id: str) -> Iterator[None]:
        """Run an API call as ``user_id`` (API_CURRENTLY_DISABLED without "API Enabled")."""
        with self.permissions.acting_as(user_id):
            yield

    def _load_saved_schema(self) -> None:
        saved = self.store.meta_get(SCHEMA_META)
        if not saved:
            return
        for item in saved.get("objects", []):
            self._schema.add(ObjectDef.from_json(item))
        for item in saved.get("fields", []):
            obj = self._schema.get(item["object"])
            if obj is not None:
                obj.add(FieldDef.from_json(item["field"]))

    def _save_schema(self) -> None:
        standard = {o.name for o in standard_objects()}
        saved = self._schema.copy()
        self.features.strip(saved)  # what features add is theirs, not the deployed schema's
        objects = [o.to_json() for o in saved.objects() if o.name not in standard]
        fields = [
            {"object": o.name, "field": f.to_json()}
            for o in saved.objects()
            if o.name in standard
            for f in o.fields.values()
            if f.custom
        ]
        with self.store.transaction():
            self.store.meta_set(SCHEMA_META, {"objects": objects, "fields": fields})
            self.rules.save(self._schema)

    def deploy(self, bundle: sfdx.Bundle) -> list[str]:
        """Apply custom objects and fields, then permission sets (``PermissionSet:Name`` in
        the answer); nothing changes when any part is invalid."""
        candidate = self._schema.copy()
        changed = sfdx.apply(candidate, bundle, len(candidate.custom_prefixes()))
        self.features.refresh(candidate)  # e.g. new custom objects carry the currency too
        specs = [parse_permission_set(n, x) for n, x in sorted(bundle.permission_sets.items())]
        for spec in specs:
            check_against(spec, candidate)
        self.duplicates.check(bundle.components, candidate)
        self.pubsub_bus.member_entities(bundle.components, candidate)  # Change Data Capture
        self._schema = candidate
        self._save_schema()
        touched = {name.split(".", 1)[0] for name in changed}
        if "Contact" in touched:  # person accounts show Contact custom fields (__pc)
            touched.add("Account")
        with self.store.transaction():
            for name in sorted(touched):
                obj = self._schema.get(name)
                if obj is not None and self.store.count(obj.name):
                    self.records.reindex(obj)
            self.rules.sync_rows(self._schema)
            self._apply_permission_sets(specs)
            if specs:
                saved = dict(self.store.meta_get(PERMISSION_SETS_META) or {})
                saved.update(bundle.permission_sets)
                self.store.meta_set(PERMISSION_SETS_META, saved)
            rules = self.duplicates.deploy(bundle.components, self._schema)
            members = self.pubsub_bus.deploy_members(bundle.components, self._schema)
        return changed + [f"PermissionSet:{spec.name}" for spec in specs] + rules + members

    def _apply_permission_sets(self, specs: list[PermissionSetSpec]) -> None:
        for spec in specs:
            apply_permission_set(self.records, self._schema, spec)

    def deploy_dir(self, directory: Path) -> list[str]:
        return self.deploy(sfdx.read_dir(directory))

    def object(self, name: str) -> ObjectDef:
        """The object as the acting user sees it; NOT_FOUND when it does not exist or the user
        cannot read it."""
        obj = self.schema.get(name)
        if obj is None:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
        return obj

    def find_user(self, username: str) -> str | None:
        """The Id of the active user called ``username`` (logins), or None."""
        for record_id in self.store.lookup("User", "Username", username.lower()):
            found = self.store.get(record_id)
            if found is not None and not found[1] and found[2].get("IsActive", True):
                return record_id
        return None

    def user_id(self, username: str) -> str:
        """The Id of the active user called ``username``; NOT_FOUND when there is none."""
        found = self.find_user(username)
        if found is None:
            raise SalesforceError("NOT_FOUND", f"no active user with username {username!r}", 404)
        return found

    def session_for(self, username: str) -> Session:
        """A new access token acting as ``username`` (the control plane's ``POST sessions``)."""
        return self.sessions.issue(self.user_id(username), "oauth")

    # records --------------------------------------------------------------------------------
    def seed_defaults(self) -> None:
        """The organization, the profiles, the admin (System Administrator) and an integration
        user (Minimum Access - API Only Integrations, no permission set), a queue, and the
        permission sets and duplicate rules deployed before a reset."""
        s = self.settings
        schema = self._schema
        with self.store.transaction():
            seed_profiles(self.records, schema)
            self.rules.sync_rows(schema)  # deployed record types' rows (again after a reset)
            self.products.seed()  # the standard price book
            if self.store.get(ids.ORG_ID) is None:
                self.records.create(
                    schema.get("Organization"),  # type: ignore[arg-type]
                    {
                        "Id": ids.ORG_ID,
                        "Name": s.org_name,
                        "InstanceName": "SBX1",
                        "IsSandbox": False,
                        "OrganizationType": "Developer Edition",
                    },
                    system=True,
                )
            users = schema.get("User")
            assert users is not None
            if self.store.get(ADMIN_USER_ID) is None:
                self.records.create(
                    users,
                    {
                        "Id": ADMIN_USER_ID,
                        "Username": s.username,
                        "FirstName": "Admin",
                        "LastName": "User",
                        "Email": s.username,
                        "Alias": "admin",
                        "ProfileId": SYSTEM_ADMINISTRATOR_PROFILE_ID,
                    },
                    system=True,
                )
            if self.store.get(INTEGRATION_USER_ID) is None:
                self.records.create(
                    users,
                    {
                        "Id": INTEGRATION_USER_ID,
                        "Username": INTEGRATION_USERNAME,
                        "FirstName": "Integration",
                        "LastName": "User",
                        "Email": INTEGRATION_USERNAME,
                        "Alias": "integ",
                        "ProfileId": API_ONLY_PROFILE_ID,
                    },
                    system=True,
                )
            if self.store.get(QUEUE_ID) is None:
                self.records.create(
                    schema.get("Group"),  # type: ignore[arg-type]
                    {
                        "Id": QUEUE_ID,
                        "Name": "Billing Queue",
                        "DeveloperName": "Billing_Queue",
                        "Type": "Queue",
                    },
                    system=True,
                )
            for user_id, profile_id in (
                (ADMIN_USER_ID, SYSTEM_ADMINISTRATOR_PROFILE_ID),
                (INTEGRATION_USER_ID, API_ONLY_PROFILE_ID),
            ):
                found = self.store.get(user_id)
                if found is not None and not found[2].get("ProfileId"):  # a data dir from before
                    self.records.update(users, user_id, {"ProfileId": profile_id}, system=True)
            saved = self.store.meta_get(PERMISSION_SETS_META) or {}
            self._apply_permission_sets(
                [
                    parse_permission_set(name, xml)
                    for name, xml in sorted(saved.items())
                    if not self.store.lookup("PermissionSet", "Name", name.lower())
                ]
            )
            self.duplicates.restore()

    def seed(self, records: list[dict[str, Any]], sobject: str | None = None) -> list[str]:
        """Insert records as the system (audit fields and Id may be given)."""
        out = []
        with self.store.transaction():
            for item in records:
                attrs = item.get("attributes") or {}
                name = sobject or (attrs.get("type") if isinstance(attrs, dict) else None)
                if not name:
                    raise SalesforceError("INVALID_TYPE", "each record needs attributes.type")
                obj = self._schema.get(str(name))
                if obj is None:
                    raise SalesforceError("INVALID_TYPE", f"sObject type '{name}' is not supported")
                out.append(self.records.create(obj, item, system=True))
        return out

    def reset(self, schema: bool = False) -> None:
        self.store.wipe(keep_meta=not schema)
        self.permissions.invalidate()
        if schema:
            self._schema = Schema(standard_objects())
        else:
            with self.store.transaction():
                for key in [r[0] for r in self.store.conn.execute("SELECT name FROM meta")]:
                    if key.startswith("autonumber:"):
                        self.store.conn.execute("DELETE FROM meta WHERE name = ?", (key,))
        self.records.id_generator.reset()
        self.sessions.reset()
        self.usage.reset()
        self.usage.daily_limit = self.settings.api_limit
        self.faults.clear()
        self.queries.reset()
        self.bulk.reset()
        # features again, as at the org's start (a schema reset keeps only the settings')
        self.features.start(self.settings.features)
        self.seed_defaults()
        if schema:
            for directory in self.settings.metadata_dirs:
                self.deploy_dir(directory)

    def close(self) -> None:
        self.bulk.close()
        self.store.close()
