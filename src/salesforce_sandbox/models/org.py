"""The org: schema (standard + deployed metadata), records, sessions, API usage, faults,
query cursors and Bulk API 2.0 jobs, over one SQLite store."""

from __future__ import annotations

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
from salesforce_sandbox.models.auth import Sessions
from salesforce_sandbox.models.bulk import BulkJobs
from salesforce_sandbox.models.faults import Faults
from salesforce_sandbox.models.limits import ApiUsage
from salesforce_sandbox.models.queries import Queries
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Store
from salesforce_sandbox.schema import sfdx
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.schema.standard import standard_objects

SCHEMA_META = "schema.custom"


class Org:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.data_dir is not None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_path)
        self.schema = Schema(standard_objects())
        self.records = Records(self.store, lambda: self.schema, ADMIN_USER_ID)
        self.sessions = Sessions(settings)
        self.usage = ApiUsage(settings.api_limit)
        self.faults = Faults()
        self.queries = Queries(self.store)
        self.bulk = BulkJobs(self.store, self.records, lambda: self.schema, self.usage)
        self._load_saved_schema()
        for directory in settings.metadata_dirs:
            self.deploy_dir(directory)
        self.seed_defaults()

    # schema ---------------------------------------------------------------------------------
    def _load_saved_schema(self) -> None:
        saved = self.store.meta_get(SCHEMA_META)
        if not saved:
            return
        for item in saved.get("objects", []):
            self.schema.add(ObjectDef.from_json(item))
        for item in saved.get("fields", []):
            obj = self.schema.get(item["object"])
            if obj is not None:
                obj.add(FieldDef.from_json(item["field"]))

    def _save_schema(self) -> None:
        standard = {o.name for o in standard_objects()}
        objects = [o.to_json() for o in self.schema.objects() if o.name not in standard]
        fields = [
            {"object": o.name, "field": f.to_json()}
            for o in self.schema.objects()
            if o.name in standard
            for f in o.fields.values()
            if f.custom
        ]
        with self.store.transaction():
            self.store.meta_set(SCHEMA_META, {"objects": objects, "fields": fields})

    def deploy(self, bundle: sfdx.Bundle) -> list[str]:
        candidate = self.schema.copy()
        changed = sfdx.apply(candidate, bundle, len(candidate.custom_prefixes()))
        self.schema = candidate
        self._save_schema()
        touched = {name.split(".", 1)[0] for name in changed}
        with self.store.transaction():
            for name in sorted(touched):
                obj = self.schema.get(name)
                if obj is not None and self.store.count(obj.name):
                    self.records.reindex(obj)
        return changed

    def deploy_dir(self, directory: Path) -> list[str]:
        return self.deploy(sfdx.read_dir(directory))

    def object(self, name: str) -> ObjectDef:
        obj = self.schema.get(name)
        if obj is None:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
        return obj

    # records --------------------------------------------------------------------------------
    def seed_defaults(self) -> None:
        """The organization, the admin and an integration user, and a queue."""
        s = self.settings
        with self.store.transaction():
            if self.store.get(ids.ORG_ID) is None:
                self.records.create(
                    self.schema.get("Organization"),  # type: ignore[arg-type]
                    {
                        "Id": ids.ORG_ID,
                        "Name": s.org_name,
                        "InstanceName": "SBX1",
                        "IsSandbox": False,
                        "OrganizationType": "Developer Edition",
                    },
                    system=True,
                )
            users = self.schema.get("User")
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
                    },
                    system=True,
                )
            if self.store.get(INTEGRATION_USER_ID) is None:
                self.records.create(
                    users,
                    {
                        "Id": INTEGRATION_USER_ID,
                        "Username": "integration@sandbox.example.com",
                        "FirstName": "Integration",
                        "LastName": "User",
                        "Email": "integration@sandbox.example.com",
                        "Alias": "integ",
                    },
                    system=True,
                )
            if self.store.get(QUEUE_ID) is None:
                self.records.create(
                    self.schema.get("Group"),  # type: ignore[arg-type]
                    {
                        "Id": QUEUE_ID,
                        "Name": "Billing Queue",
                        "DeveloperName": "Billing_Queue",
                        "Type": "Queue",
                    },
                    system=True,
                )

    def seed(self, records: list[dict[str, Any]], sobject: str | None = None) -> list[str]:
        """Insert records as the system (audit fields and Id may be given)."""
        out = []
        with self.store.transaction():
            for item in records:
                attrs = item.get("attributes") or {}
                name = sobject or (attrs.get("type") if isinstance(attrs, dict) else None)
                if not name:
                    raise SalesforceError("INVALID_TYPE", "each record needs attributes.type")
                obj = self.schema.get(str(name))
                if obj is None:
                    raise SalesforceError("INVALID_TYPE", f"sObject type '{name}' is not supported")
                out.append(self.records.create(obj, item, system=True))
        return out

    def reset(self, schema: bool = False) -> None:
        self.store.wipe(keep_meta=not schema)
        if schema:
            self.schema = Schema(standard_objects())
            for directory in self.settings.metadata_dirs:
                self.deploy_dir(directory)
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
        self.seed_defaults()

    def close(self) -> None:
        self.bulk.close()
        self.store.close()
