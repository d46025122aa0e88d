"""Bulk API 2.0: ingest and query jobs (job info always JSON, results CSV)."""

from __future__ import annotations

from salesforce_sandbox.api.http import CSV_TYPE, Call, Reply, no_content, ok
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.org import Org


def create_ingest(org: Org, call: Call) -> Reply:
    return ok(org.bulk.create_ingest(call.json_object(), call.version, call.user_id))


def list_ingest(org: Org, call: Call) -> Reply:
    return ok({"done": True, "records": org.bulk.list_jobs("V2Ingest"), "nextRecordsUrl": None})


def get_ingest(org: Org, call: Call) -> Reply:
    return ok(org.bulk.get(call.params["job"], "V2Ingest"))


def patch_ingest(org: Org, call: Call) -> Reply:
    state = str(call.json_object().get("state", ""))
    return ok(org.bulk.set_state(call.params["job"], state, "V2Ingest"))


def delete_ingest(org: Org, call: Call) -> Reply:
    org.bulk.delete(call.params["job"], "V2Ingest")
    return no_content()


def upload(org: Org, call: Call) -> Reply:
    if call.body_path is None:
        raise SalesforceError("INVALIDJOB", "No content")
    org.bulk.upload(call.params["job"], call.body_path)
    return Reply(201, raw=b"")


def _csv(org: Org, call: Call, kind: str) -> Reply:
    return Reply(200, content_type=CSV_TYPE, stream=org.bulk.results(call.params["job"], kind))


def successful_results(org: Org, call: Call) -> Reply:
    return _csv(org, call, "ok")


def failed_results(org: Org, call: Call) -> Reply:
    return _csv(org, call, "fail")


def unprocessed_records(org: Org, call: Call) -> Reply:
    return _csv(org, call, "unprocessed")


def create_query(org: Org, call: Call) -> Reply:
    return ok(org.bulk.create_query(call.json_object(), call.version, call.user_id))


def list_query(org: Org, call: Call) -> Reply:
    return ok({"done": True, "records": org.bulk.list_jobs("V2Query"), "nextRecordsUrl": None})


def get_query(org: Org, call: Call) -> Reply:
    return ok(org.bulk.get(call.params["job"], "V2Query"))


def patch_query(org: Org, call: Call) -> Reply:
    state = str(call.json_object().get("state", ""))
    return ok(org.bulk.set_state(call.params["job"], state, "V2Query"))


def delete_query(org: Org, call: Call) -> Reply:
    org.bulk.delete(call.params["job"], "V2Query")
    return no_content()


def query_results(org: Org, call: Call) -> Reply:
    raw_max = call.query.get("maxRecords")
    max_records = int(raw_max) if raw_max and raw_max.isdigit() and int(raw_max) > 0 else None
    locator = call.query.get("locator") or None
    if locator == "null":
        locator = None
    chunks, next_locator, count = org.bulk.query_page(call.params["job"], locator, max_records)
    return Reply(
        200,
        content_type=CSV_TYPE,
        headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(count)},
        stream=chunks,
    )
