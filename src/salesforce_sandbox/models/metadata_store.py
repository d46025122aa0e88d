"""The org's Metadata API: deploys and retrieves as asynchronous jobs with ids and a status
flow, and the components deployed through it, kept in the store's ``meta`` table (so they
survive a restart with a data directory, like the schema, and go with ``reset(schema=True)``).

Deploys run when they are received; the first ``checkDeployStatus`` finds them done. A deploy
checks every component first (``schema.mdapi.plan_deploy``) and applies nothing when one fails
and ``rollbackOnError`` is on (the default), nor when ``checkOnly``; otherwise the components
that passed go through ``Org.deploy`` like SFDX source does.
"""

from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox import clock, ids
from salesforce_sandbox.config import ADMIN_USER_ID
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.duplicates import RULES_META
from salesforce_sandbox.models.org import PERMISSION_SETS_META, Org
from salesforce_sandbox.schema import mdapi
from salesforce_sandbox.schema.mdapi import ArchiveError, DeployMessage, DeployPlan
from salesforce_sandbox.schema.mdapi_retrieve import EPOCH, Catalog, Stored, build_retrieve

COMPONENTS_META = "mdapi.components"
JOB_META = "mdapi.job:"
JOB_INDEX_META = "mdapi.jobs"
COUNTER_META = "mdapi.counter"
KEEP_JOBS = 200
USER_NAME = "Admin User"
# ids of components start high so they never meet the record ids the org hands out from 1
_COMPONENT_ID_BASE = 62**5
_ID_PREFIXES = {
    "CustomObject": "01I",
    "CustomField": "00N",
    "ListView": "00B",
    "CompactLayout": "0AH",
    "Layout": "00h",
    "PermissionSet": "0PS",
}
DEPLOY_PREFIX = "0Af"
RETRIEVE_PREFIX = "09S"


class UnknownJob(Exception):
    """No deploy or retrieve with this id (``INVALID_CROSS_REFERENCE_KEY``)."""


class DeployDone(Exception):
    """A cancel for a deploy that has already finished."""


class NotValidated(Exception):
    """A quick deploy of an id that is not a successful, unused check-only deploy."""


@dataclass
class DeployOptions:
    check_only: bool = False
    rollback_on_error: bool = True
    ignore_warnings: bool = False
    single_package: bool = True
    purge_on_delete: bool = False
    test_level: str = "NoTestRun"
    run_tests: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> DeployOptions:
        """From SOAP ``DeployOptions`` (strings) or REST ``deployOptions`` (JSON values)."""

        def flag(name: str, default: bool) -> bool:
            value = raw.get(name)
            if value is None or value == "":
                return default
            return value is True or str(value).lower() == "true"

        tests = raw.get("runTests") or []
        return cls(
            check_only=flag("checkOnly", False),
            rollback_on_error=flag("rollbackOnError", True),
            ignore_warnings=flag("ignoreWarnings", False),
            single_package=flag("singlePackage", True),
            purge_on_delete=flag("purgeOnDelete", False),
            test_level=str(raw.get("testLevel") or "NoTestRun"),
            run_tests=[str(t) for t in (tests if isinstance(tests, list) else [tests])],
            extra=dict(raw),
        )

    def wire(self) -> dict[str, Any]:
        return {
            "allowMissingFiles": bool(self.extra.get("allowMissingFiles") in (True, "true")),
            "autoUpdatePackage": bool(self.extra.get("autoUpdatePackage") in (True, "true")),
            "checkOnly": self.check_only,
            "ignoreWarnings": self.ignore_warnings,
            "performRetrieve": False,
            "purgeOnDelete": self.purge_on_delete,
            "rollbackOnError": self.rollback_on_error,
            "runTests": self.run_tests,
            "singlePackage": self.single_package,
            "testLevel": self.test_level,
        }


def _iso(value: dt.datetime) -> str:
    """Metadata API datetimes: ``2024-01-02T03:04:05.000Z``."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now() -> str:
    return _iso(clock.now())


class MetadataService:
    """One org's Metadata API (stateless: everything lives in the store)."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.store = org.store

    # stored components --------------------------------------------------------------------
    def stored(self) -> dict[tuple[str, str], Stored]:
        """Components deployed through the Metadata API, and the permission sets and duplicate
        management the org got another way (``--metadata`` source directories, the control
        plane)."""
        raw: dict[str, dict[str, dict[str, str]]] = self.store.meta_get(COMPONENTS_META) or {}
        out = {
            (kind, name): Stored(item["xml"], item["id"], item["created"], item["modified"])
            for kind, members in raw.items()
            for name, item in members.items()
        }
        for name, text in (self.store.meta_get(PERMISSION_SETS_META) or {}).items():
            if ("PermissionSet", name) in out:
                continue
            try:
                root = mdapi.strip_namespaces(ET.fromstring(text))
            except ET.ParseError:
                continue
            record_id = self._record_id("PermissionSet", name) or ""
            out[("PermissionSet", name)] = Stored(
                mdapi.document(root, "PermissionSet"), record_id, EPOCH, EPOCH
            )
        # duplicate management that came another way (source directories, the control plane)
        for kind, documents in (self.store.meta_get(RULES_META) or {}).items():
            for name, text in documents.items():
                if (kind, name) not in out:
                    out[(kind, name)] = Stored(text, "", EPOCH, EPOCH)
        return out

    def _save_components(self, documents: dict[tuple[str, str], str], when: str) -> None:
        raw: dict[str, dict[str, dict[str, str]]] = self.store.meta_get(COMPONENTS_META) or {}
        for (kind, name), text in documents.items():
            members = raw.setdefault(kind, {})
            current = members.get(name)
            if current is None:
                component_id = self._record_id(kind, name) or self._new_id(
                    _ID_PREFIXES.get(kind, "000"), _COMPONENT_ID_BASE
                )
                members[name] = {"xml": text, "id": component_id, "created": when, "modified": when}
            elif current["xml"] != text:
                current.update({"xml": text, "modified": when})
        self.store.meta_set(COMPONENTS_META, raw)

    def _record_id(self, kind: str, name: str) -> str | None:
        """A permission set's component id is the Id of its PermissionSet record."""
        if kind != "PermissionSet":
            return None
        found = self.store.lookup("PermissionSet", "Name", name.lower())
        return found[0] if found else None

    def catalog(self) -> Catalog:
        return Catalog(self.org.full_schema, self.stored())

    # ids and jobs -----------------------------------------------------------------------------
    def _new_id(self, prefix: str, base: int = 0) -> str:
        counters: dict[str, int] = self.store.meta_get(COUNTER_META) or {}
        number = counters.get(prefix, 0) + 1
        counters[prefix] = number
        self.store.meta_set(COUNTER_META, counters)
        return ids.make_id(prefix, base + number)

    def _save_job(self, job: dict[str, Any], new: bool = False) -> None:
        self.store.meta_set(JOB_META + job["id"], job)
        if not new:
            return
        index: list[str] = self.store.meta_get(JOB_INDEX_META) or []
        index.append(job["id"])
        for old in index[:-KEEP_JOBS]:
            self.store.conn.execute("DELETE FROM meta WHERE name = ?", (JOB_META + old,))
        self.store.meta_set(JOB_INDEX_META, index[-KEEP_JOBS:])

    def job(self, job_id: str, kind: str) -> dict[str, Any]:
        normalized = ids.normalize(job_id)
        job = self.store.meta_get(JOB_META + normalized) if normalized else None
        if not isinstance(job, dict) or job.get("kind") != kind:
            raise UnknownJob(job_id)
        return job

    # deploy -----------------------------------------------------------------------------------
    def deploy(self, zip_file: bytes, options: DeployOptions, user_id: str) -> dict[str, Any]:
        """Receive a deploy: check it, apply it (or not), keep its result. Returns the job."""
        created = now()
        with self.store.transaction():
            job_id = self._new_id(DEPLOY_PREFIX)
            job: dict[str, Any] = {
                "kind": "deploy",
                "id": job_id,
                "createdBy": (user_id or ADMIN_USER_ID)[:15],
                "createdDate": created,
                "options": options.wire(),
                "status": "Pending",
                "done": False,
                "messages": [],
            }
            self._save_job(job, new=True)
        job.update(self._run_deploy(zip_file, options))
        if options.check_only and job["status"] == "Succeeded":  # kept for a quick deploy
            job["zip"] = base64.b64encode(zip_file).decode("ascii")
        job["startDate"] = created
        job["completedDate"] = job["lastModifiedDate"] = now()
        job["done"] = True
        with self.store.transaction():
            self._save_job(job)
        return job

    def _run_deploy(self, zip_file: bytes, options: DeployOptions) -> dict[str, Any]:
        try:
            files = mdapi.read_zip(zip_file)
        except ArchiveError as exc:
            plan = DeployPlan(
                [
                    mdapi.DeployMessage(
                        "",
                        "package.xml",
                        "package.xml",
                        False,
                        problem=str(exc),
                        problem_type="Error",
                    )
                ]
            )
        else:
            stored = {key: item.xml for key, item in self.stored().items()}
            plan = mdapi.plan_deploy(files, self.org.full_schema, stored)
        failed = bool(plan.failures) or any(m.is_package and not m.success for m in plan.messages)
        apply = (
            not options.check_only and plan.successes and not (failed and options.rollback_on_error)
        )
        when = now()
        if apply:
            try:
                with self.store.transaction():
                    self.org.deploy(plan.bundle)
                    self._save_components(plan.documents, when)
            except SalesforceError as error:
                _blame(plan, error)
                failed, apply = True, False
        stored_now = self.stored()
        if not failed:
            status = "Succeeded"
        elif apply and plan.successes:
            status = "SucceededPartial"
        else:
            status = "Failed"
        return {
            "status": status,
            "success": status != "Failed",
            "messages": [
                _message_json(m, when, _component_id(m, stored_now)) for m in plan.messages
            ],
            "numberComponentsTotal": len(plan.components),
            "numberComponentsDeployed": len(plan.successes),
            "numberComponentErrors": len(plan.failures),
        }

    def deploy_result(self, job_id: str, include_details: bool) -> dict[str, Any]:
        """A ``DeployResult`` (JSON values; the SOAP layer writes them as XML)."""
        job = self.job(job_id, "deploy")
        options = job["options"]
        messages = job["messages"]
        result: dict[str, Any] = {
            "checkOnly": options["checkOnly"],
            "completedDate": job.get("completedDate"),
            "createdBy": job["createdBy"],
            "createdByName": USER_NAME,
            "createdDate": job["createdDate"],
            "done": job["done"],
            "id": job["id"],
            "ignoreWarnings": options["ignoreWarnings"],
            "lastModifiedDate": job.get("lastModifiedDate", job["createdDate"]),
            "numberComponentErrors": job.get("numberComponentErrors", 0),
            "numberComponentsDeployed": job.get("numberComponentsDeployed", 0),
            "numberComponentsTotal": job.get("numberComponentsTotal", 0),
            "numberTestErrors": 0,
            "numberTestsCompleted": 0,
            "numberTestsTotal": 0,
            "rollbackOnError": options["rollbackOnError"],
            "runTestsEnabled": False,
            "startDate": job.get("startDate"),
            "status": job["status"],
            "success": job.get("success", False),
        }
        if include_details:
            result["details"] = {
                "componentFailures": [m for m in messages if m["success"] is False],
                "componentSuccesses": [m for m in messages if m["success"] is True],
                "runTestResult": {"numFailures": 0, "numTestsRun": 0, "totalTime": 0.0},
            }
        return result

    def deploy_recent_validation(self, validation_id: str, user_id: str) -> dict[str, Any]:
        """Quick deploy: deploy again, for real, what a successful validation checked (once)."""
        validation = self.job(validation_id, "deploy")
        if "zip" not in validation or validation.get("quickDeployedAs"):
            raise NotValidated(validation_id)
        options = DeployOptions.from_wire({**validation["options"], "checkOnly": False})
        job = self.deploy(base64.b64decode(validation["zip"]), options, user_id)
        validation["quickDeployedAs"] = job["id"]
        with self.store.transaction():
            self._save_job(validation)
        return job

    def cancel_deploy(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id, "deploy")
        if job["done"]:
            raise DeployDone(job_id)
        return {"done": False, "id": job["id"]}  # pragma: no cover - deploys finish at once

    # retrieve ---------------------------------------------------------------------------------
    def retrieve(self, request: dict[str, Any]) -> dict[str, Any]:
        """Receive a retrieve: build its zip now, answer it on ``checkRetrieveStatus``."""
        package_names = [str(p) for p in request.get("packageNames") or []]
        output = build_retrieve(
            self.catalog(),
            request.get("types") or {},
            request.get("version") or request.get("apiVersion"),
            bool(request.get("singlePackage")),
            request.get("specificFiles") or [],
        )
        messages = [{"fileName": f, "problem": p} for f, p in output.messages]
        messages += [
            {"fileName": "package.xml", "problem": f"No package named '{name}' found"}
            for name in package_names
        ]
        with self.store.transaction():
            job = {
                "kind": "retrieve",
                "id": self._new_id(RETRIEVE_PREFIX),
                "createdDate": now(),
                "status": "Succeeded",
                "done": True,
                "success": True,
                "zipFile": base64.b64encode(output.zip_file).decode("ascii"),
                "fileProperties": [
                    p.wire(ADMIN_USER_ID[:15], USER_NAME) for p in output.properties
                ],
                "messages": messages,
            }
            self._save_job(job, new=True)
        return job

    def retrieve_result(self, job_id: str, include_zip: bool = True) -> dict[str, Any]:
        job = self.job(job_id, "retrieve")
        return {
            "done": job["done"],
            "fileProperties": job["fileProperties"],
            "id": job["id"],
            "messages": job["messages"],
            "status": job["status"],
            "success": job["success"],
            "zipFile": job["zipFile"] if include_zip else None,
        }

    # list and describe ------------------------------------------------------------------------
    def list_metadata(self, queries: list[dict[str, str]]) -> list[dict[str, Any]]:
        """``FileProperties`` of every component of the asked types (folders are ignored:
        the sandbox supports no in-folder type). Raises ``KeyError`` for an unknown type."""
        catalog = self.catalog()
        out: list[dict[str, Any]] = []
        for query in queries:
            type_name = query.get("type", "")
            if type_name not in mdapi.SUPPORTED:
                if type_name in mdapi.KNOWN_UNSUPPORTED:
                    continue  # a real type this org has none of
                raise KeyError(type_name)
            for member in catalog.members(type_name):
                out.append(catalog.property(type_name, member).wire(ADMIN_USER_ID[:15], USER_NAME))
        return out


def describe_metadata() -> dict[str, Any]:
    """``DescribeMetadataResult``: the top-level types the sandbox deploys and retrieves."""
    objects = []
    for kind in mdapi.TOP_LEVEL:
        children = [c.name for c in mdapi.SUPPORTED.values() if c.parent == kind.name]
        objects.append(
            {
                "childXmlNames": children,
                "directoryName": kind.directory,
                "inFolder": kind.in_folder,
                "metaFile": kind.meta_file,
                "suffix": kind.suffix,
                "xmlName": kind.name,
            }
        )
    return {
        "metadataObjects": objects,
        "organizationNamespace": "",
        "partialSaveAllowed": True,
        "testRequired": False,
    }


def _message_json(message: DeployMessage, when: str, component_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "changed": message.changed,
        "componentType": message.component_type,
        "created": message.created,
        "createdDate": when,
        "deleted": message.deleted,
        "fileName": message.file_name,
        "fullName": message.full_name,
        "success": message.success,
    }
    if component_id:
        out["id"] = component_id
    if message.problem is not None:
        out["problem"] = message.problem
        out["problemType"] = message.problem_type or "Error"
    if message.line is not None:
        out["lineNumber"] = message.line
        out["columnNumber"] = message.column or 0
    return dict(sorted(out.items()))


def _component_id(message: DeployMessage, stored: dict[tuple[str, str], Stored]) -> str | None:
    if not message.success or message.is_package:
        return None
    item = stored.get((message.component_type, message.full_name))
    return item.id if item is not None else None


def _blame(plan: DeployPlan, error: SalesforceError) -> None:
    """``Org.deploy`` refused the checked bundle: the components it names fail (all of the
    deploy's successes when it names none)."""
    named = [m for m in plan.successes if m.full_name in error.message]
    for message in named or plan.successes:
        message.success = False
        message.created = message.changed = False
        message.problem = error.message
        message.problem_type = "Error"
