"""Bulk API 2.0 ingest and query jobs.

Uploads are spooled to files and read back as a stream; per-row results are kept in the store's
``job_rows`` table and streamed out, so memory stays flat however many rows a job has. A job is
processed when the client marks it ``UploadComplete`` and is ``JobComplete`` on the next GET.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from salesforce_sandbox import clock, ids
from salesforce_sandbox.errors import SalesforceError, not_found
from salesforce_sandbox.models.limits import ApiUsage, ingest_batches
from salesforce_sandbox.models.records import Records, StoreSource
from salesforce_sandbox.models.steps import Stepper
from salesforce_sandbox.models.store import Store, _dumps
from salesforce_sandbox.schema.model import ObjectDef, Schema
from salesforce_sandbox.soql import bind, parse
from salesforce_sandbox.soql.binder import Path as FieldPath
from salesforce_sandbox.soql.engine import execute_raw

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
CHUNK = 2000


def _job_error(message: str, code: str = "INVALIDJOB", status: int = 400) -> SalesforceError:
    return SalesforceError(code, message, status)


class BulkJobs:
    """The org's Bulk API 2.0 jobs, on its store and records. ``schema(user_id)`` returns the
    org's schema as it is now (a deploy replaces it), as that user sees it: a job reads and
    writes with the permissions of the user who created it."""

    def __init__(
        self,
        store: Store,
        records: Records,
        schema: Callable[[str | None], Schema],
        usage: ApiUsage | None = None,
    ) -> None:
        self.store = store
        self.usage = usage or ApiUsage(0)  # spends DailyBulkApiBatches / DailyBulkV2QueryJobs
        self.records = records
        self._schema = schema
        self._tmp = tempfile.mkdtemp(prefix="sf-bulk-")
        self.root = Path(self._tmp)
        self.generation = 0
        self._steps = Stepper()
        last = self.store.conn.execute("SELECT max(id) FROM jobs").fetchone()[0]
        if last:
            records.id_generator.start_after("750", ids.counter_of(last))

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def reset(self) -> None:
        self.generation += 1
        for path in self.root.glob("*"):
            path.unlink(missing_ok=True)

    # storage --------------------------------------------------------------------------------
    def _save(self, job: dict[str, Any]) -> None:
        self.store.conn.execute(
            "INSERT INTO jobs (id, data) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (job["id"], _dumps(job)),
        )

    def get(self, job_id: str, job_type: str) -> dict[str, Any]:
        normal = ids.normalize(job_id)
        row = self.store.conn.execute(
            "SELECT data FROM jobs WHERE id = ?", (normal or job_id,)
        ).fetchone()
        if row is None:
            raise not_found()
        job: dict[str, Any] = json.loads(row[0])
        if job["jobType"] != job_type:
            raise not_found()
        return job

    def list_jobs(self, job_type: str) -> list[dict[str, Any]]:
        jobs = [
            json.loads(r[0]) for r in self.store.conn.execute("SELECT data FROM jobs ORDER BY id")
        ]
        return [j for j in jobs if j["jobType"] == job_type]

    def _new_job(
        self, data: dict[str, Any], job_type: str, version: str, user: str
    ) -> dict[str, Any]:
        now = clock.now_text()
        delimiter = str(data.get("columnDelimiter") or "COMMA").upper()
        line_ending = str(data.get("lineEnding") or "LF").upper()
        if delimiter not in DELIMITERS:
            raise _job_error(f"InvalidJob : Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise _job_error(f"InvalidJob : Invalid line ending: {line_ending}")
        return {
            "id": self.records.new_id("750"),
            "operation": data.get("operation"),
            "object": data.get("object"),
            "createdById": user,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": job_type,
            "lineEnding": line_ending,
            "columnDelimiter": delimiter,
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }

    # ingest ---------------------------------------------------------------------------------
    def create_ingest(self, data: dict[str, Any], version: str, user: str) -> dict[str, Any]:
        operation = data.get("operation")
        if operation not in OPERATIONS:
            raise _job_error(f"InvalidJob : Invalid operation: {operation}")
        obj = self._schema(user).get(str(data.get("object", "")))
        if obj is None:
            raise _job_error(f"InvalidJob : Invalid object: {data.get('object')}")
        if str(data.get("contentType") or "CSV").upper() != "CSV":
            raise _job_error("InvalidJob : contentType must be CSV")
        job = self._new_job(data, "V2Ingest", version, user)
        job["object"] = obj.name
        if operation == "upsert":
            field = str(data.get("externalIdFieldName") or "")
            if not field:
                raise _job_error("InvalidJob : External ID was blank for " + obj.name)
            definition = self.records.external_field(obj, field)
            job["externalIdFieldName"] = definition.name
        job["contentUrl"] = f"services/data/v{version}/jobs/ingest/{job['id']}/batches"
        with self.store.transaction():
            self._save(job)
        return job

    def upload(self, job_id: str, source: Path) -> None:
        job = self.get(job_id, "V2Ingest")
        if job["state"] != "Open":
            raise _job_error(
                f"Unable to upload data for a job in state {job['state']}", "INVALIDJOB", 409
            )
        target = self.root / f"{job['id']}.csv"
        if target.exists():
            raise _job_error("Data for this job has already been uploaded", "INVALIDJOB", 409)
        shutil.move(str(source), target)

    def set_state(self, job_id: str, state: str, job_type: str) -> dict[str, Any]:
        job = self.get(job_id, job_type)
        if state == "Aborted":
            if job["state"] in TERMINAL:
                raise _job_error(f"Job is already {job['state']}", "INVALIDJOB", 409)
            was = job["state"]
            job["state"] = "Aborted"
            if job_type == "V2Ingest" and was == "Open":
                self._unprocessed(job)
        elif state == "UploadComplete" and job_type == "V2Ingest":
            if job["state"] != "Open":
                raise _job_error(f"Job is in state {job['state']}", "INVALIDJOB", 409)
            job["state"] = "UploadComplete"
            reply = dict(job)
            self._steps.run(self._process(job), "bulk job")
            return reply
        else:
            raise _job_error(f"Invalid state: {state}", "INVALIDJOB", 400)
        job["systemModstamp"] = clock.now_text()
        with self.store.transaction():
            self._save(job)
        return job

    def delete(self, job_id: str, job_type: str) -> None:
        job = self.get(job_id, job_type)
        if job["state"] in ("Open", "UploadComplete", "InProgress") and job_type == "V2Ingest":
            raise _job_error(f"Job in state {job['state']} cannot be deleted", "INVALIDJOB", 400)
        with self.store.transaction():
            self.store.conn.execute("DELETE FROM jobs WHERE id = ?", (job["id"],))
            self.store.conn.execute("DELETE FROM job_rows WHERE job_id = ?", (job["id"],))
        (self.root / f"{job['id']}.csv").unlink(missing_ok=True)

    def _reader(self, job: dict[str, Any], path: Path) -> Iterator[list[str]]:
        delimiter = DELIMITERS[job["columnDelimiter"]]
        with path.open(encoding="utf-8-sig", newline="") as handle:
            yield from csv.reader(handle, delimiter=delimiter)

    def _unprocessed(self, job: dict[str, Any]) -> None:
        path = self.root / f"{job['id']}.csv"
        if not path.exists():
            return
        rows = self._reader(job, path)
        header = next(rows, None)
        if header is None:
            return
        with self.store.transaction():
            self._rows(job["id"], "head", [(0, None, None, header)])
            self._unprocessed_rows(job["id"], rows)

    def _unprocessed_rows(self, job_id: str, rows: Iterator[list[str]]) -> None:
        """Store the rows not (yet) processed, numbered from 1."""
        self._rows(job_id, "unprocessed", ((i, None, None, r) for i, r in enumerate(rows, 1)))

    def _rows(self, job_id: str, kind: str, rows: Any) -> None:
        self.store.conn.executemany(
            "INSERT INTO job_rows (job_id, kind, seq, sf_id, extra, row) VALUES (?, ?, ?, ?, ?, ?)",
            ((job_id, kind, seq, sf_id, extra, _dumps(row)) for seq, sf_id, extra, row in rows),
        )

    def _process(self, job: dict[str, Any]) -> Iterator[None]:
        """Process an uploaded job chunk by chunk (one transaction per chunk), yielding
        between chunks so the server can answer other requests meanwhile."""
        started = clock.now()
        generation = self.generation
        path = self.root / f"{job['id']}.csv"
        obj = self._schema(job["createdById"]).get(job["object"])
        counts = {"processed": 0, "failed": 0}
        try:
            if obj is None:
                raise _job_error(f"InvalidBatch : Invalid object: {job['object']}")
            if not path.exists():
                raise _job_error("InvalidBatch : No data uploaded for this job")
            rows = self._reader(job, path)
            header = next(rows, None)
            if header is None:
                raise _job_error("InvalidBatch : The CSV file has no header row")
            header = [h.strip() for h in header]
            columns = self._columns(obj, header, job)
            job["state"] = "InProgress"
            for _ in self._apply(job, obj, header, columns, rows, counts):
                job["numberRecordsProcessed"] = counts["processed"]
                job["numberRecordsFailed"] = counts["failed"]
                with self.store.transaction():
                    self._save(job)
                yield
                if generation != self.generation:
                    return
                if self._state(job["id"]) == "Aborted":
                    job["state"] = "Aborted"
                    with self.store.transaction():
                        self._unprocessed_rows(job["id"], rows)
                    break
            else:
                job["state"] = "JobComplete"
            job["numberRecordsProcessed"] = counts["processed"]
            job["numberRecordsFailed"] = counts["failed"]
        except SalesforceError as error:
            job["state"] = "Failed"
            job["errorMessage"] = error.message
        finally:
            path.unlink(missing_ok=True)
        if generation != self.generation:
            return
        self.usage.count_bulk_batches(ingest_batches(counts["processed"]))
        elapsed = int((clock.now() - started).total_seconds() * 1000)
        job["totalProcessingTime"] = elapsed
        job["apiActiveProcessingTime"] = elapsed
        job["systemModstamp"] = clock.now_text()
        with self.store.transaction():
            self._save(job)

    def _state(self, job_id: str) -> str | None:
        row = self.store.conn.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(json.loads(row[0])["state"]) if row else None

    def _columns(self, obj: ObjectDef, header: list[str], job: dict[str, Any]) -> list[Any]:
        """Per column: a field name, or (relationship name, target, external field)."""
        operation = job["operation"]
        if operation in ("delete", "hardDelete"):
            if [h.lower() for h in header] != ["id"]:
                raise _job_error("InvalidBatch : The 'delete' batch must contain only 'Id'")
            return ["Id"]
        out: list[Any] = []
        for name in header:
            if "." in name:
                rel_part, ext = name.split(".", 1)
                rel_name, _, target = rel_part.partition(":")
                lookup = obj.by_relationship(rel_name)
                if lookup is None or not lookup.reference_to:
                    raise _job_error(f"InvalidBatch : Field name not found : {name}")
                target_obj = self._schema(job["createdById"]).get(target or lookup.reference_to[0])
                if target_obj is None or target_obj.field(ext) is None:
                    raise _job_error(f"InvalidBatch : Field name not found : {name}")
                out.append((lookup.relationship_name, target_obj.name, ext))
                continue
            definition = obj.field(name)
            if definition is None:
                raise _job_error(f"InvalidBatch : Field name not found : {name}")
            out.append(definition.name)
        if operation == "update" and "Id" not in out:
            raise _job_error("InvalidBatch : Id is required for update")
        if operation == "upsert" and job["externalIdFieldName"] not in out:
            raise _job_error(
                f"InvalidBatch : External ID field {job['externalIdFieldName']} is missing"
            )
        return out

    def _apply(
        self,
        job: dict[str, Any],
        obj: ObjectDef,
        header: list[str],
        columns: list[Any],
        rows: Iterator[list[str]],
        counts: dict[str, int],
    ) -> Iterator[None]:
        """Apply the rows in chunks of CHUNK, one transaction each; yields after each chunk
        but the last."""
        with self.store.transaction():
            self._rows(job["id"], "head", [(0, None, None, header)])
        chunk: list[tuple[int, list[str]]] = []
        for seq, row in enumerate(rows, 1):
            if not row or (len(row) == 1 and row[0] == "" and len(columns) > 1):
                continue
            chunk.append((seq, row))
            if len(chunk) >= CHUNK:
                self._apply_chunk(job, obj, columns, chunk, counts)
                chunk = []
                yield
        if chunk:
            self._apply_chunk(job, obj, columns, chunk, counts)

    def _apply_chunk(
        self,
        job: dict[str, Any],
        obj: ObjectDef,
        columns: list[Any],
        chunk: list[tuple[int, list[str]]],
        counts: dict[str, int],
    ) -> None:
        records = self.records
        operation = job["operation"]
        ext_field = job.get("externalIdFieldName")
        user = job["createdById"]
        ok_rows: list[tuple[int, str | None, str | None, list[str]]] = []
        fail_rows: list[tuple[int, str | None, str | None, list[str]]] = []
        known: dict[str, list[str]] | None = None
        definition = obj.field(str(ext_field)) if operation == "upsert" else None
        if definition is not None and definition.type != "id" and ext_field in columns:
            position = columns.index(ext_field)
            values = [row[position] for _, row in chunk if position < len(row) and row[position]]
            known = records.prefetch_external(obj, definition, values)
        with self.store.transaction():
            for seq, row in chunk:
                counts["processed"] += 1
                payload: dict[str, Any] = {}
                for column, cell in zip(columns, row, strict=False):
                    if cell == "":
                        continue
                    value: str | None = None if cell == "#N/A" else cell
                    if isinstance(column, tuple):
                        payload[column[0]] = {"attributes": {"type": column[1]}, column[2]: value}
                    else:
                        payload[column] = value
                try:
                    if operation == "insert":
                        rid, created = records.create(obj, payload, "csv", user=user), True
                    elif operation == "update":
                        record_id = str(payload.pop("Id", "") or "")
                        rid = records.update(obj, record_id, payload, "csv", user=user)
                        created = False
                    elif operation == "upsert":
                        key = payload.get(ext_field) if ext_field else None
                        rid, created = records.upsert(
                            obj, str(ext_field), key, payload, "csv", user=user, known=known
                        )
                    else:
                        rid = records.delete(obj, str(payload.get("Id", "")), user=user)
                        created = False
                    ok_rows.append((seq, rid, "true" if created else "false", row))
                except SalesforceError as error:
                    counts["failed"] += 1
                    given = (
                        payload.get("Id")
                        if operation != "insert" and operation != "upsert"
                        else None
                    )
                    fail_rows.append((seq, str(given or ""), error.bulk_text(), row))
            self._rows(job["id"], "ok", ok_rows)
            self._rows(job["id"], "fail", fail_rows)

    def results(self, job_id: str, kind: str) -> Iterator[bytes]:
        job = self.get(job_id, "V2Ingest")
        if kind != "unprocessed" and job["state"] not in ("JobComplete", "Failed", "Aborted"):
            raise _job_error(
                f"Job {job['id']} is not complete (state {job['state']})", "INVALIDJOB", 400
            )
        return self._stream_results(job, kind)

    def _stream_results(self, job: dict[str, Any], kind: str) -> Iterator[bytes]:
        delimiter = DELIMITERS[job["columnDelimiter"]]
        line_ending = LINE_ENDINGS[job["lineEnding"]]
        head_row = self.store.conn.execute(
            "SELECT row FROM job_rows WHERE job_id = ? AND kind = 'head'", (job["id"],)
        ).fetchone()
        header = json.loads(head_row[0]) if head_row else []
        prefix = {"ok": ["sf__Id", "sf__Created"], "fail": ["sf__Id", "sf__Error"]}.get(kind, [])
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending)
        writer.writerow([*prefix, *header])
        after = -1
        while True:
            # one short query per chunk: no statement stays open across awaits
            batch = self.store.conn.execute(
                "SELECT seq, sf_id, extra, row FROM job_rows WHERE job_id = ? AND kind = ? "
                "AND seq > ? ORDER BY seq LIMIT ?",
                (job["id"], kind, after, CHUNK),
            ).fetchall()
            if batch:
                after = batch[-1][0]
            for _, sf_id, extra, row in batch:
                values = json.loads(row)
                writer.writerow([sf_id or "", extra or "", *values] if prefix else values)
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            if not batch:
                return

    # query ----------------------------------------------------------------------------------
    def create_query(self, data: dict[str, Any], version: str, user: str) -> dict[str, Any]:
        operation = data.get("operation") or "query"
        if operation not in ("query", "queryAll"):
            raise _job_error(f"InvalidJob : Invalid operation: {operation}")
        soql = data.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise _job_error("InvalidJob : query is required")
        schema = self._schema(user)
        bound = bind(parse(soql), schema)
        if bound.aggregate or any(not isinstance(f, FieldPath) for f in bound.fields):
            raise SalesforceError(
                "API_ERROR", "Aggregate queries and sub-queries are not supported in Bulk API 2.0"
            )
        job = self._new_job(data, "V2Query", version, user)
        self.usage.count_bulk_v2_query_job()
        job["operation"] = operation
        job["object"] = bound.obj.name
        job["query"] = soql
        rows, run = execute_raw(bound, self._source(), schema, operation == "queryAll")
        paths = [f for f in bound.fields if isinstance(f, FieldPath)]
        with self.store.transaction():
            self._rows(job["id"], "head", [(0, None, None, [p.dotted for p in paths])])
            self._rows(
                job["id"],
                "q",
                (
                    (i, None, None, [_csv_value(run.raw(r, p)) for p in paths])
                    for i, r in enumerate(rows)
                ),
            )
            job["state"] = "JobComplete"
            job["numberRecordsProcessed"] = len(rows)
            self._save(job)
        reply = dict(job)
        reply["state"] = "UploadComplete"
        return reply

    def _source(self) -> Any:
        return StoreSource(self.store)

    def query_page(
        self, job_id: str, locator: str | None, max_records: int | None
    ) -> tuple[Iterator[bytes], str, int]:
        """(CSV chunks, next locator or 'null', number of records in this page)."""
        job = self.get(job_id, "V2Query")
        if job["state"] != "JobComplete":
            raise SalesforceError(
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job",
                412,
            )
        offset = 0
        if locator:
            try:
                offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except ValueError as exc:
                raise SalesforceError("INVALID_LOCATOR", "invalid locator") from exc
        total = int(job["numberRecordsProcessed"])
        size = max_records if max_records else total
        end = min(offset + size, total)
        next_locator = (
            base64.b64encode(str(end).encode()).decode().rstrip("=") if end < total else "null"
        )
        head = self.store.conn.execute(
            "SELECT row FROM job_rows WHERE job_id = ? AND kind = 'head'", (job["id"],)
        ).fetchone()
        header = json.loads(head[0]) if head else []
        delimiter = DELIMITERS[job["columnDelimiter"]]
        line_ending = LINE_ENDINGS[job["lineEnding"]]

        def chunks() -> Iterator[bytes]:
            buffer = io.StringIO()
            writer = csv.writer(
                buffer, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL
            )
            writer.writerow(header)
            start = offset
            while True:
                batch = self.store.conn.execute(
                    "SELECT row FROM job_rows WHERE job_id = ? AND kind = 'q' AND seq >= ? "
                    "AND seq < ? ORDER BY seq",
                    (job["id"], start, min(start + CHUNK, end)),
                ).fetchall()
                start += CHUNK
                for (row,) in batch:
                    writer.writerow(json.loads(row))
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
                if not batch:
                    return

        return chunks(), next_locator, end - offset


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)
