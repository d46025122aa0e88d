"""Bulk API 1.0 ("classic") jobs and batches: what jsforce ``conn.bulk`` and Data Loader use.

A job (``750…``) takes batches (``751…``) until it is closed or aborted. An ingest batch is CSV,
a JSON array of records or XML ``<sObjects>`` (the job's ``contentType``); its rows are applied
by the Bulk API 2.0 code (``BulkJobs._columns`` / ``_apply_chunk``: the same records.py checks
as REST and Bulk 2.0) and its per-row results kept in ``job_rows`` under the batch id. A query
batch is a SOQL statement whose rows are kept under its result id (``752…``).

Jobs and batches are rows of the store's ``jobs`` table (``jobType`` ``Classic`` and
``ClassicBatch``: Bulk 2.0 lists neither). A batch is ``Queued`` when added, processed at once
chunk by chunk (the first chunk before the reply, the rest on the event loop), then
``Completed`` (rows that failed included), ``Failed`` (a batch that could not be read, with
``stateMessage``) or ``NotProcessed`` (its job was aborted first). Errors carry Bulk API 1.0
exception codes (``InvalidJob``, ``InvalidBatch``, ``InvalidJobState``...) as ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from salesforce_sandbox import clock, ids
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.bulk import CHUNK, BulkJobs
from salesforce_sandbox.models.bulk1_bodies import batch_rows
from salesforce_sandbox.models.limits import ApiUsage
from salesforce_sandbox.models.records import StoreSource
from salesforce_sandbox.models.steps import Stepper
from salesforce_sandbox.soql import bind, parse
from salesforce_sandbox.soql.binder import BoundQuery
from salesforce_sandbox.soql.binder import Path as FieldPath
from salesforce_sandbox.soql.engine import execute_raw

INGEST = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY = ("query", "queryAll")
CONTENT_TYPES = ("CSV", "JSON", "XML")
CONCURRENCY = ("Parallel", "Serial")
MAX_BATCH_RECORDS = 10000
JOB_TYPE = "Classic"
BATCH_TYPE = "ClassicBatch"


def async_error(code: str, message: str, status: int = 400) -> SalesforceError:
    """An error with a Bulk API 1.0 exception code."""
    return SalesforceError(code, message, status)


class ClassicJobs:
    """The org's Bulk API 1.0 jobs, stored with (and applied by) its Bulk API 2.0 jobs."""

    def __init__(self, bulk: BulkJobs, usage: ApiUsage) -> None:
        self.bulk = bulk
        self.usage = usage
        self._steps = Stepper()

    @property
    def store(self) -> Any:
        return self.bulk.store

    # storage --------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        generator = self.bulk.records.id_generator
        if not generator.known(prefix):
            last = self.store.conn.execute(
                "SELECT max(id) FROM jobs WHERE id >= ? AND id < ?", (prefix, prefix + "~")
            ).fetchone()[0]
            generator.start_after(prefix, ids.counter_of(last) if last else 0)
        return self.bulk.records.new_id(prefix)

    def _save(self, item: dict[str, Any]) -> None:
        self.bulk._save(item)

    def _load(self, item_id: str, job_type: str) -> dict[str, Any] | None:
        normal = ids.normalize(item_id) or item_id
        row = self.store.conn.execute("SELECT data FROM jobs WHERE id = ?", (normal,)).fetchone()
        if row is None:
            return None
        item: dict[str, Any] = json.loads(row[0])
        return item if item.get("jobType") == job_type else None

    def job(self, job_id: str) -> dict[str, Any]:
        job = self._load(job_id, JOB_TYPE)
        if job is None:
            raise async_error("InvalidJob", f"Invalid job id: {job_id}")
        return job

    def batch(self, job_id: str, batch_id: str) -> dict[str, Any]:
        job = self.job(job_id)
        batch = self._load(batch_id, BATCH_TYPE)
        if batch is None or batch["jobId"] != job["id"]:
            raise async_error("InvalidBatch", f"Invalid batch id: {batch_id}")
        return batch

    def batches(self, job_id: str) -> list[dict[str, Any]]:
        job = self.job(job_id)
        found = [self._load(b, BATCH_TYPE) for b in job["batches"]]
        return [b for b in found if b is not None]

    def job_info(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job with its counters summed over its batches, in the order of the XSD."""
        batches = [b for b in (self._load(i, BATCH_TYPE) for i in job["batches"]) if b]
        states = [b["state"] for b in batches]

        def total(key: str) -> int:
            return sum(int(b.get(key, 0)) for b in batches)

        info: dict[str, Any] = {
            "id": job["id"],
            "operation": job["operation"],
            "object": job["object"],
            "createdById": job["createdById"],
            "createdDate": job["createdDate"],
            "systemModstamp": job["systemModstamp"],
            "state": job["state"],
        }
        if job.get("externalIdFieldName"):
            info["externalIdFieldName"] = job["externalIdFieldName"]
        info.update(
            {
                "concurrencyMode": job["concurrencyMode"],
                "contentType": job["contentType"],
                "numberBatchesQueued": states.count("Queued"),
                "numberBatchesInProgress": states.count("InProgress"),
                "numberBatchesCompleted": states.count("Completed"),
                "numberBatchesFailed": states.count("Failed"),
                "numberBatchesTotal": len(batches),
                "numberRecordsProcessed": total("numberRecordsProcessed"),
                "numberRetries": 0,
                "apiVersion": job["apiVersion"],
            }
        )
        if job.get("assignmentRuleId"):
            info["assignmentRuleId"] = job["assignmentRuleId"]
        info.update(
            {
                "numberRecordsFailed": total("numberRecordsFailed"),
                "totalProcessingTime": total("totalProcessingTime"),
                "apiActiveProcessingTime": total("apiActiveProcessingTime"),
                "apexProcessingTime": 0,
            }
        )
        return info

    @staticmethod
    def batch_info(batch: dict[str, Any]) -> dict[str, Any]:
        """The batch as the API shows it, in the order of the XSD."""
        keys = ["id", "jobId", "state"]
        if batch.get("stateMessage"):
            keys.append("stateMessage")
        keys += [
            "createdDate",
            "systemModstamp",
            "numberRecordsProcessed",
            "numberRecordsFailed",
            "totalProcessingTime",
            "apiActiveProcessingTime",
            "apexProcessingTime",
        ]
        return {k: batch.get(k, 0) for k in keys}

    # jobs -----------------------------------------------------------------------------------
    def create_job(self, data: dict[str, Any], version: str, user: str) -> dict[str, Any]:
        operation = str(data.get("operation") or "")
        lowered = {op.lower(): op for op in (*INGEST, *QUERY)}
        if operation.lower() not in lowered:
            raise async_error(
                "InvalidJob",
                f"Invalid operation: '{operation}'; use one of {', '.join(lowered.values())}",
            )
        operation = lowered[operation.lower()]
        name = str(data.get("object") or "")
        obj = self.bulk._schema(user).get(name)
        if obj is None:
            raise async_error("InvalidJob", f"Unable to find object: {name}")
        content_type = str(data.get("contentType") or "CSV").upper()
        if content_type not in CONTENT_TYPES:
            raise async_error(
                "InvalidJob",
                f"Invalid content type: {content_type}; use one of {', '.join(CONTENT_TYPES)}",
            )
        concurrency = str(data.get("concurrencyMode") or "Parallel").capitalize()
        if concurrency not in CONCURRENCY:
            raise async_error(
                "InvalidJob", f"Invalid concurrency mode: {data.get('concurrencyMode')}"
            )
        if data.get("state") not in (None, "", "Open"):
            raise async_error("InvalidJob", "A new job's state can only be Open")
        now = clock.now_text()
        job: dict[str, Any] = {
            "id": self._new_id("750"),
            "operation": operation,
            "object": obj.name,
            "createdById": user,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": concurrency,
            "contentType": content_type,
            "apiVersion": float(version),
            "jobType": JOB_TYPE,
            "batches": [],
        }
        if operation == "upsert":
            field = str(data.get("externalIdFieldName") or "")
            if not field:
                raise async_error(
                    "InvalidJob",
                    f"External ID was blank for {obj.name}. An External ID must be specified "
                    "for upsert.",
                )
            try:
                job["externalIdFieldName"] = self.bulk.records.external_field(obj, field).name
            except SalesforceError as error:
                message = (
                    f"Field {field} does not exist on {obj.name}"
                    if error.code == "NOT_FOUND"
                    else error.message
                )
                raise async_error("InvalidJob", message) from error
        if data.get("assignmentRuleId"):
            job["assignmentRuleId"] = str(data["assignmentRuleId"])
        with self.store.transaction():
            self._save(job)
        return self.job_info(job)

    def set_state(self, job_id: str, state: str) -> dict[str, Any]:
        job = self.job(job_id)
        current = job["state"]
        if state == "Closed":
            if current != "Open":
                raise async_error(
                    "InvalidJobState", f"Job {job['id']} is {current}: only an Open job closes"
                )
        elif state == "Aborted":
            if current not in ("Open", "Closed"):
                raise async_error("InvalidJobState", f"Job {job['id']} is already {current}")
        else:
            raise async_error(
                "InvalidJobState", f"Invalid state: '{state}'; a job can be set Closed or Aborted"
            )
        job["state"] = state
        job["systemModstamp"] = clock.now_text()
        with self.store.transaction():
            self._save(job)
            if state == "Aborted":
                for batch in self.batches(job["id"]):
                    if batch["state"] == "Queued":
                        batch["state"] = "NotProcessed"
                        self._save(batch)
        return self.job_info(job)

    # batches --------------------------------------------------------------------------------
    def add_batch(self, job_id: str, body: bytes) -> dict[str, Any]:
        """Queue a batch and start processing it; answers the batch as queued."""
        job = self.job(job_id)
        if job["state"] != "Open":
            raise async_error(
                "InvalidJobState",
                f"Job {job['id']} is {job['state']}: batches can only be added to an Open job",
            )
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise async_error("InvalidBatch", "The batch is not UTF-8 text") from exc
        now = clock.now_text()
        batch: dict[str, Any] = {
            "id": self._new_id("751"),
            "jobId": job["id"],
            "state": "Queued",
            "createdDate": now,
            "systemModstamp": now,
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
            "jobType": BATCH_TYPE,
            "results": [],
        }
        job["batches"].append(batch["id"])
        with self.store.transaction():
            self._save(job)
            self._save(batch)
            self.bulk._rows(batch["id"], "request", [(0, None, None, text)])
        self.usage.count_bulk_batches(1)
        reply = self.batch_info(batch)
        self._steps.run(self._process(job, batch, text), "bulk 1.0 batch")
        return reply

    def request(self, job_id: str, batch_id: str) -> tuple[str, str]:
        """(the batch as uploaded, the job's content type)."""
        job = self.job(job_id)
        batch = self.batch(job_id, batch_id)
        row = self.store.conn.execute(
            "SELECT row FROM job_rows WHERE job_id = ? AND kind = 'request'", (batch["id"],)
        ).fetchone()
        return (json.loads(row[0]) if row else ""), job["contentType"]

    def _process(self, job: dict[str, Any], batch: dict[str, Any], text: str) -> Iterator[None]:
        """Process ``batch``, yielding between chunks; stops if the job is aborted or the org
        reset meanwhile."""
        generation = self.bulk.generation
        started = clock.now()
        batch["state"] = "InProgress"
        with self.store.transaction():
            self._save(batch)
        try:
            if job["operation"] in QUERY:
                self._query(job, batch, text)
            else:
                for _ in self._ingest(job, batch, text):
                    with self.store.transaction():
                        self._save(batch)
                    yield
                    if generation != self.bulk.generation:
                        return
                    if self.job(job["id"])["state"] == "Aborted":
                        batch["state"] = "NotProcessed"
                        break
            if batch["state"] == "InProgress":
                batch["state"] = "Completed"
        except SalesforceError as error:
            batch["state"] = "Failed"
            batch["stateMessage"] = error.message
        if generation != self.bulk.generation:
            return
        elapsed = int((clock.now() - started).total_seconds() * 1000)
        batch["totalProcessingTime"] = elapsed
        batch["apiActiveProcessingTime"] = elapsed
        batch["systemModstamp"] = clock.now_text()
        with self.store.transaction():
            self._save(batch)

    def _ingest(self, job: dict[str, Any], batch: dict[str, Any], text: str) -> Iterator[None]:
        obj = self.bulk._schema(job["createdById"]).get(job["object"])
        if obj is None:
            raise async_error(
                "InvalidBatch", f"InvalidBatch : Unable to find object: {job['object']}"
            )
        header, rows = batch_rows(job["contentType"], text)
        if len(rows) > MAX_BATCH_RECORDS:
            raise async_error(
                "InvalidBatch",
                f"InvalidBatch : Records in a single batch exceed {MAX_BATCH_RECORDS}: "
                "split the data into more batches",
            )
        # the Bulk API 2.0 code applies the rows; it keys what it keeps by the "job" id given
        applying = {
            "id": batch["id"],
            "operation": job["operation"],
            "externalIdFieldName": job.get("externalIdFieldName"),
            "createdById": job["createdById"],
        }
        columns = self.bulk._columns(obj, header, applying)
        counts = {"processed": 0, "failed": 0}
        numbered = [(seq, row) for seq, row in enumerate(rows, 1) if row]
        for start in range(0, len(numbered), CHUNK):
            self.bulk._apply_chunk(applying, obj, columns, numbered[start : start + CHUNK], counts)
            batch["numberRecordsProcessed"] = counts["processed"]
            batch["numberRecordsFailed"] = counts["failed"]
            if start + CHUNK < len(numbered):
                yield

    def _query(self, job: dict[str, Any], batch: dict[str, Any], soql: str) -> None:
        schema = self.bulk._schema(job["createdById"])
        try:
            bound = bind(parse(soql), schema)
        except SalesforceError as error:
            raise async_error("InvalidBatch", f"InvalidBatch : {error.message}") from error
        _check_bulk_query(bound, job)
        rows, run = execute_raw(
            bound, StoreSource(self.store), schema, job["operation"] == "queryAll"
        )
        run.version = f"{job['apiVersion']:.1f}"
        result_id = self._new_id("752")
        paths = [f for f in bound.fields if isinstance(f, FieldPath)]
        if job["contentType"] == "CSV":
            head: Any = [p.dotted for p in paths]
            shaped: Iterator[Any] = ([run.raw(r, p) for p in paths] for r in rows)
        else:
            head = bound.obj.name
            shaped = (run.shape(r, bound) for r in rows)
        with self.store.transaction():
            self.bulk._rows(result_id, "head", [(0, None, None, head)])
            self.bulk._rows(result_id, "q", ((i, None, None, r) for i, r in enumerate(shaped)))
        batch["results"] = [result_id]
        batch["numberRecordsProcessed"] = len(rows)

    # results --------------------------------------------------------------------------------
    def _finished(self, job_id: str, batch_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        job = self.job(job_id)
        batch = self.batch(job_id, batch_id)
        if batch["state"] in ("Queued", "InProgress"):
            raise async_error(
                "InvalidBatch", f"Batch not completed: {batch['id']} is {batch['state']}"
            )
        if batch["state"] == "NotProcessed":
            raise async_error("InvalidBatch", f"Batch {batch['id']} was not processed")
        return job, batch

    def ingest_results(self, job_id: str, batch_id: str) -> tuple[str, Iterator[Row]]:
        """(content type, per input row: (id, success, created, error text)) in input order."""
        job, batch = self._finished(job_id, batch_id)
        if job["operation"] in QUERY:
            raise async_error("InvalidBatch", "A query batch has result ids, not row results")
        found = self.store.conn.execute(
            "SELECT seq, kind, sf_id, extra FROM job_rows WHERE job_id = ? "
            "AND kind IN ('ok', 'fail') ORDER BY seq",
            (batch["id"],),
        ).fetchall()

        def rows() -> Iterator[Row]:
            for _, kind, sf_id, extra in found:
                if kind == "ok":
                    yield sf_id or "", True, extra == "true", ""
                else:
                    yield sf_id or "", False, False, extra or ""

        return job["contentType"], rows()

    def result_ids(self, job_id: str, batch_id: str) -> tuple[str, list[str]]:
        job, batch = self._finished(job_id, batch_id)
        if job["operation"] not in QUERY:
            raise async_error("InvalidBatch", "Only query batches have result ids")
        return job["contentType"], list(batch.get("results", []))

    def query_result(
        self, job_id: str, batch_id: str, result_id: str
    ) -> tuple[str, Any, Iterator[Any]]:
        """(content type, header (CSV) or object name, rows (CSV values or shaped records))."""
        content_type, results = self.result_ids(job_id, batch_id)
        normal = ids.normalize(result_id) or result_id
        if normal not in results:
            raise async_error("InvalidBatch", f"Invalid result id: {result_id}")
        head = self.store.conn.execute(
            "SELECT row FROM job_rows WHERE job_id = ? AND kind = 'head'", (normal,)
        ).fetchone()

        def rows() -> Iterator[Any]:
            after = -1
            while True:
                chunk = self.store.conn.execute(
                    "SELECT seq, row FROM job_rows WHERE job_id = ? AND kind = 'q' AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (normal, after, CHUNK),
                ).fetchall()
                if not chunk:
                    return
                after = chunk[-1][0]
                for _, row in chunk:
                    yield json.loads(row)

        return content_type, json.loads(head[0]) if head else [], rows()


Row = tuple[str, bool, bool, str]


def _check_bulk_query(bound: BoundQuery, job: dict[str, Any]) -> None:
    if bound.aggregate or bound.count_only:
        raise async_error(
            "InvalidBatch", "InvalidBatch : Aggregate queries are not supported in Bulk Query"
        )
    if any(not isinstance(f, FieldPath) for f in bound.fields):
        raise async_error(
            "InvalidBatch", "InvalidBatch : Aggregate Relationships not supported in Bulk Query"
        )
    if bound.obj.name != job["object"]:
        raise async_error(
            "InvalidBatch",
            f"InvalidBatch : The query is on {bound.obj.name} but the job is for {job['object']}",
        )
