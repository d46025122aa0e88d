"""Bulk API 1.0 over HTTP: ``/services/async/{version}/job[/{job}[/batch[/{batch}[/request|
/result[/{result}]]]]]``.

Job and batch infos are XML (``application/xml``, elements in the order of the AsyncApi XSD,
which typed clients such as Data Loader's rely on) or JSON for JSON jobs and JSON requests;
ingest results are the job's content type (CSV ``"Id","Success","Created","Error"``, JSON or
XML); query results likewise. The session comes in ``X-SFDC-Session`` (the route table says so)
and errors are ``<error><exceptionCode>…</exceptionCode><exceptionMessage>…</exceptionMessage>
</error>`` (or ``{"exceptionCode", "exceptionMessage"}``), HTTP 400: ``error_reply`` is the one
place they are written.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

from salesforce_sandbox.api.http import CSV_TYPE, Call, Reply, dumps
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.bulk import _csv_value
from salesforce_sandbox.models.bulk1 import Row, async_error
from salesforce_sandbox.models.org import Org

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "application/xml"
JSON_TYPE = "application/json"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

# REST errors the shared request path raises (sessions, API limits, routing), as Bulk 1.0
# names them
_FROM_REST = {
    "INVALID_SESSION_ID": ("InvalidSessionId", "Invalid session id"),
    "REQUEST_LIMIT_EXCEEDED": ("ExceededQuota", "TotalRequests Limit exceeded."),
    "NOT_FOUND": ("InvalidUrl", None),
    "METHOD_NOT_ALLOWED": ("InvalidUrl", None),
    "JSON_PARSER_ERROR": ("ClientInputError", None),
}


def error_reply(error: SalesforceError, headers: dict[str, str]) -> Reply:
    """A Bulk API 1.0 error: XML, or JSON when the request was JSON."""
    code, message = error.code, error.message
    if code in _FROM_REST:
        code, fixed = _FROM_REST[code]
        message = fixed or message
    status = error.status if error.status >= 500 or error.status == 404 else 400
    if _is_json(headers.get("content-type", "")) or _is_json(headers.get("accept", "")):
        return Reply(
            status, {"exceptionCode": code, "exceptionMessage": message}, content_type=JSON_TYPE
        )
    body = (
        f'{_DECLARATION}<error xmlns="{NS}"><exceptionCode>{escape(code)}</exceptionCode>'
        f"<exceptionMessage>{escape(message)}</exceptionMessage></error>"
    )
    return Reply(status, raw=body.encode(), content_type=XML_TYPE)


def _is_json(content_type: str) -> bool:
    return "json" in content_type.lower()


# request bodies ---------------------------------------------------------------------------
def _body(call: Call) -> bytes:
    """The request body, gunzipped when sent ``Content-Encoding: gzip`` (Data Loader does)."""
    if "gzip" in call.headers.get("content-encoding", "").lower():
        try:
            return gzip.decompress(call.body)
        except (OSError, EOFError) as exc:
            raise async_error("ClientInputError", f"Unreadable gzip body: {exc}") from exc
    return call.body


def _request_info(call: Call) -> dict[str, Any]:
    """A ``jobInfo`` sent as XML or JSON, as a dict of its elements."""
    body = _body(call)
    if _is_json(call.headers.get("content-type", "")):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise async_error("ClientInputError", f"Unreadable JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise async_error("ClientInputError", "The JSON body must be an object (jobInfo)")
        return data
    try:
        root = ET.fromstring(body.decode("utf-8-sig").strip())
    except (ET.ParseError, UnicodeDecodeError) as exc:
        raise async_error("InvalidXML", f"Unable to parse the jobInfo XML: {exc}") from exc
    if root.tag.rsplit("}", 1)[-1] != "jobInfo":
        raise async_error("InvalidXML", "The request body must be a <jobInfo> element")
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}


# rendering --------------------------------------------------------------------------------
def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}" if value.is_integer() else repr(value)
    text = str(value)
    if text.endswith("+0000") and "T" in text:  # datetimes: 2024-01-02T03:04:05.000Z
        text = text[:-5] + "Z"
    return escape(text)


def _elements(info: dict[str, Any]) -> str:
    return "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in info.items())


def _xml_reply(status: int, root: str, inner: str) -> Reply:
    body = f'{_DECLARATION}<{root} xmlns="{NS}">{inner}</{root}>'
    return Reply(status, raw=body.encode(), content_type=XML_TYPE)


def _info_reply(info: dict[str, Any], root: str, as_json: bool, status: int = 200) -> Reply:
    if as_json:
        return Reply(status, info, content_type=JSON_TYPE)
    return _xml_reply(status, root, _elements(info))


# handlers ---------------------------------------------------------------------------------
def create_job(org: Org, call: Call) -> Reply:
    info = org.bulk1.create_job(_request_info(call), call.version, call.user_id)
    return _info_reply(info, "jobInfo", _is_json(call.headers.get("content-type", "")), 201)


def get_job(org: Org, call: Call) -> Reply:
    jobs = org.bulk1
    job = jobs.job(call.params["job"])
    return _info_reply(jobs.job_info(job), "jobInfo", job["contentType"] == "JSON")


def update_job(org: Org, call: Call) -> Reply:
    data = _request_info(call)
    info = org.bulk1.set_state(call.params["job"], str(data.get("state") or ""))
    as_json = _is_json(call.headers.get("content-type", "")) or info["contentType"] == "JSON"
    return _info_reply(info, "jobInfo", as_json)


def add_batch(org: Org, call: Call) -> Reply:
    jobs = org.bulk1
    job = jobs.job(call.params["job"])
    info = jobs.add_batch(job["id"], _body(call))
    return _info_reply(info, "batchInfo", job["contentType"] == "JSON", 201)


def list_batches(org: Org, call: Call) -> Reply:
    jobs = org.bulk1
    job = jobs.job(call.params["job"])
    infos = [jobs.batch_info(b) for b in jobs.batches(job["id"])]
    if job["contentType"] == "JSON":
        return Reply(200, {"batchInfo": infos}, content_type=JSON_TYPE)
    inner = "".join(f"<batchInfo>{_elements(i)}</batchInfo>" for i in infos)
    return _xml_reply(200, "batchInfoList", inner)


def get_batch(org: Org, call: Call) -> Reply:
    jobs = org.bulk1
    job = jobs.job(call.params["job"])
    info = jobs.batch_info(jobs.batch(job["id"], call.params["batch"]))
    return _info_reply(info, "batchInfo", job["contentType"] == "JSON")


_TYPES = {"CSV": CSV_TYPE, "JSON": JSON_TYPE, "XML": XML_TYPE}


def batch_request(org: Org, call: Call) -> Reply:
    text, content_type = org.bulk1.request(call.params["job"], call.params["batch"])
    return Reply(200, raw=text.encode("utf-8"), content_type=_TYPES[content_type])


def batch_result(org: Org, call: Call) -> Reply:
    jobs = org.bulk1
    job = jobs.job(call.params["job"])
    if job["operation"] in ("query", "queryAll"):
        content_type, results = jobs.result_ids(job["id"], call.params["batch"])
        if content_type == "JSON":
            return Reply(200, results, content_type=JSON_TYPE)
        inner = "".join(f"<result>{escape(r)}</result>" for r in results)
        return _xml_reply(200, "result-list", inner)
    content_type, rows = jobs.ingest_results(job["id"], call.params["batch"])
    if content_type == "JSON":
        return Reply(200, [_json_result(r) for r in rows], content_type=JSON_TYPE)
    if content_type == "XML":
        return _xml_reply(200, "results", "".join(_xml_result(r) for r in rows))
    return Reply(200, content_type=CSV_TYPE, stream=_csv_results(rows))


def _csv_results(rows: Iterator[Row]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["Id", "Success", "Created", "Error"])
    for count, (record_id, success, created, error) in enumerate(rows, 1):
        writer.writerow([record_id, _xml_text(success), _xml_text(created), error])
        if count % 2000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _error_parts(text: str) -> dict[str, Any]:
    """``CODE:message:field,field --`` (Bulk CSV error text) as a record error."""
    body = text.removesuffix(" --")
    code, _, rest = body.partition(":")
    message, _, fields = rest.rpartition(":")
    return {
        "fields": [f for f in fields.split(",") if f],
        "message": message,
        "statusCode": code,
    }


def _json_result(row: Row) -> dict[str, Any]:
    record_id, success, created, error = row
    return {
        "success": success,
        "created": created,
        "id": record_id or None,
        "errors": [_error_parts(error)] if error else [],
    }


def _xml_result(row: Row) -> str:
    record_id, success, created, error = row
    parts = []
    if error:
        detail = _error_parts(error)
        fields = "".join(f"<fields>{escape(f)}</fields>" for f in detail["fields"])
        parts.append(
            f"<errors>{fields}<message>{escape(detail['message'])}</message>"
            f"<statusCode>{escape(detail['statusCode'])}</statusCode></errors>"
        )
    if record_id:
        parts.insert(0, f"<id>{escape(record_id)}</id>")
    parts.append(f"<success>{_xml_text(success)}</success>")
    parts.append(f"<created>{_xml_text(created)}</created>")
    return f"<result>{''.join(parts)}</result>"


def query_result(org: Org, call: Call) -> Reply:
    content_type, head, rows = org.bulk1.query_result(
        call.params["job"], call.params["batch"], call.params["result"]
    )
    if content_type == "JSON":
        return Reply(200, content_type=JSON_TYPE, stream=_json_records(rows))
    if content_type == "XML":
        return Reply(200, content_type=XML_TYPE, stream=_xml_records(rows))
    return Reply(200, content_type=CSV_TYPE, stream=_csv_records(head, rows))


def _csv_records(header: list[str], rows: Iterator[list[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([_csv_value(v) for v in row])
        if count % 2000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _json_records(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    for count, record in enumerate(rows):
        yield (b"," if count else b"") + dumps(record)
    yield b"]"


def _xml_value(name: str, value: Any) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, dict):
        attrs = value.get("attributes") or {}
        inner = f"<type>{escape(str(attrs.get('type', '')))}</type>" + "".join(
            _xml_value(k, v) for k, v in value.items() if k != "attributes"
        )
        return f'<{name} xsi:type="sObject">{inner}</{name}>'
    return f"<{name}>{_xml_text(value)}</{name}>"


def _xml_records(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield f'{_DECLARATION}<queryResult xmlns="{NS}" xmlns:xsi="{XSI}">'.encode()
    for record in rows:
        yield _xml_value("records", record).encode("utf-8")
    yield b"</queryResult>"
