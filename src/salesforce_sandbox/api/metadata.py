"""Metadata API over HTTP: the SOAP endpoint ``/services/Soap/m/{version}`` (deploy,
checkDeployStatus, cancelDeploy, retrieve, checkRetrieveStatus, checkStatus, listMetadata,
describeMetadata) and the REST deploy ``/services/data/vXX.X/metadata/deployRequest``.

SOAP requests carry the session in ``SessionHeader/sessionId``; answers are
``<{call}Response><result>...`` in the metadata namespace, with no attributes below the
envelope (jsforce reads the first child of ``Body`` as the response and ``$`` would be it).
Faults are ``soapenv:Fault`` with ``faultcode`` ``sf:CODE`` and ``faultstring`` ``CODE: text``,
HTTP 500, as Salesforce sends them.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from salesforce_sandbox.api.http import XML_TYPE, Call, Reply, ok
from salesforce_sandbox.errors import SalesforceError, SoapFault
from salesforce_sandbox.models.auth import Session
from salesforce_sandbox.models.metadata_store import (
    DeployDone,
    DeployOptions,
    MetadataService,
    NotValidated,
    UnknownJob,
    describe_metadata,
)
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.schema.mdapi import MD_NS, local

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    f'xmlns="{MD_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body>"
)
_ENVELOPE_CLOSE = "</soapenv:Body></soapenv:Envelope>"


class MetadataFault(SoapFault):
    """A Metadata API SOAP fault. ``faultcode`` is ``sf:CODE`` for Salesforce errors and
    ``soapenv:Client`` for requests that are not Metadata API calls at all."""

    def __init__(self, code: str, message: str, faultcode: str | None = None) -> None:
        super().__init__(code, message)
        self.faultcode = faultcode or f"sf:{code}"

    def xml(self) -> str:
        code, message = escape(self.code), escape(self.message)
        if self.faultcode.startswith("sf:"):
            faultstring = f"{code}: {message}"
            detail = (
                '<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
                f"<sf:exceptionCode>{code}</sf:exceptionCode>"
                f"<sf:exceptionMessage>{message}</sf:exceptionMessage>"
                "</sf:UnexpectedErrorFault></detail>"
            )
        else:
            faultstring, detail = message, ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:sf="{MD_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<soapenv:Body><soapenv:Fault><faultcode>{escape(self.faultcode)}</faultcode>"
            f"<faultstring>{faultstring}</faultstring>{detail}</soapenv:Fault>"
            "</soapenv:Body></soapenv:Envelope>"
        )


def _invalid_id() -> MetadataFault:
    return MetadataFault("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")


# request and response XML -----------------------------------------------------------------------
Args = dict[str, list[Any]]


def _collect(element: ET.Element) -> Args:
    """Children by local name, every value a list (text, or the child's own ``Args``)."""
    out: Args = {}
    for child in element:
        value: Any = _collect(child) if len(child) else (child.text or "").strip()
        out.setdefault(local(child.tag), []).append(value)
    return out


def _one(args: Args, name: str, default: Any = "") -> Any:
    values = args.get(name)
    return values[0] if values else default


def _flag(args: Args, name: str, default: bool) -> bool:
    value = _one(args, name, None)
    return default if value in (None, "") else str(value).lower() == "true"


def _xml(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(_xml(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_xml(key, item) for key, item in value.items())
        return f"<{name}>{inner}</{name}>"
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{text}</{name}>"


def _response(call_name: str, result: Any) -> Reply:
    body = _xml("result", result)
    payload = f"{_ENVELOPE_OPEN}<{call_name}Response>{body}</{call_name}Response>{_ENVELOPE_CLOSE}"
    return Reply(200, raw=payload.encode("utf-8"), content_type=XML_TYPE)


# SOAP calls ---------------------------------------------------------------------------------------
Operation = Callable[[MetadataService, Args, Session], Any]


def _deploy(service: MetadataService, args: Args, session: Session) -> Any:
    try:
        zip_file = base64.b64decode(str(_one(args, "ZipFile")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MetadataFault(
            "INVALID_ZIP_FILE", f"ZipFile is not valid base64: {exc}", "soapenv:Client"
        ) from exc
    raw_options = _one(args, "DeployOptions", {}) or {}
    options = DeployOptions.from_wire(
        {
            key: (values if key == "runTests" else values[0])
            for key, values in (raw_options.items() if isinstance(raw_options, dict) else [])
        }
    )
    job = service.deploy(zip_file, options, session.user_id)
    return {"done": False, "id": job["id"], "state": "Queued"}


def _check_deploy_status(service: MetadataService, args: Args, session: Session) -> Any:
    try:
        return service.deploy_result(
            str(_one(args, "asyncProcessId")), _flag(args, "includeDetails", False)
        )
    except UnknownJob as exc:
        raise _invalid_id() from exc


def _cancel_deploy(service: MetadataService, args: Args, session: Session) -> Any:
    try:
        return service.cancel_deploy(str(_one(args, "id") or _one(args, "String")))
    except UnknownJob as exc:
        raise _invalid_id() from exc
    except DeployDone as exc:
        raise MetadataFault(
            "INVALID_ID_FIELD", "The deployment has already completed and cannot be canceled"
        ) from exc


def _not_validated() -> MetadataFault:
    return MetadataFault(
        "INVALID_ID_FIELD",
        "This id is not a successful validation (check-only deploy) that can be quick "
        "deployed, or it was quick deployed already",
    )


def _deploy_recent_validation(service: MetadataService, args: Args, session: Session) -> Any:
    try:
        job = service.deploy_recent_validation(str(_one(args, "validationId")), session.user_id)
    except UnknownJob as exc:
        raise _invalid_id() from exc
    except NotValidated as exc:
        raise _not_validated() from exc
    return job["id"]


def _retrieve(service: MetadataService, args: Args, session: Session) -> Any:
    request: Args = _one(args, "request", {}) or {}
    unpackaged: Args = _one(request, "unpackaged", {}) or {}
    types: dict[str, list[str]] = {}
    for item in unpackaged.get("types", []):
        if isinstance(item, dict):
            members = [str(m) for m in item.get("members", []) if m]
            types.setdefault(str(_one(item, "name")), []).extend(members)
    job = service.retrieve(
        {
            "types": types,
            "version": _one(unpackaged, "version", None) or _one(request, "apiVersion", None),
            "singlePackage": _flag(request, "singlePackage", False),
            "specificFiles": [str(f) for f in request.get("specificFiles", []) if f],
            "packageNames": [str(p) for p in request.get("packageNames", []) if p],
        }
    )
    return {"done": False, "id": job["id"], "state": "Queued"}


def _check_retrieve_status(service: MetadataService, args: Args, session: Session) -> Any:
    try:
        return service.retrieve_result(
            str(_one(args, "asyncProcessId")), _flag(args, "includeZip", True)
        )
    except UnknownJob as exc:
        raise _invalid_id() from exc


def _check_status(service: MetadataService, args: Args, session: Session) -> Any:
    out = []
    for job_id in args.get("asyncProcessId", []):
        try:
            try:
                job = service.job(str(job_id), "deploy")
            except UnknownJob:
                job = service.job(str(job_id), "retrieve")
        except UnknownJob as exc:
            raise _invalid_id() from exc
        out.append({"done": True, "id": job["id"], "state": "Completed"})
    return out


def _list_metadata(service: MetadataService, args: Args, session: Session) -> Any:
    queries = [
        {"type": str(_one(q, "type")), "folder": str(_one(q, "folder"))}
        for q in args.get("queries", [])
        if isinstance(q, dict)
    ]
    try:
        return service.list_metadata(queries)
    except KeyError as exc:
        raise MetadataFault("INVALID_TYPE", f"Unknown type:{exc.args[0]}") from exc


def _describe_metadata(service: MetadataService, args: Args, session: Session) -> Any:
    return describe_metadata()


OPERATIONS: dict[str, Operation] = {
    "deploy": _deploy,
    "checkDeployStatus": _check_deploy_status,
    "cancelDeploy": _cancel_deploy,
    "deployRecentValidation": _deploy_recent_validation,
    "retrieve": _retrieve,
    "checkRetrieveStatus": _check_retrieve_status,
    "checkStatus": _check_status,
    "listMetadata": _list_metadata,
    "describeMetadata": _describe_metadata,
}


def soap(org: Org, call: Call) -> Reply:
    """``POST /services/Soap/m/{version}[/orgId]``."""
    try:
        root = ET.fromstring(call.body)
    except ET.ParseError as exc:
        raise MetadataFault(
            "INVALID_XML", f"Unable to parse the SOAP request: {exc}", "soapenv:Client"
        ) from exc
    header = next((e for e in root if local(e.tag) == "Header"), None)
    body = next((e for e in root if local(e.tag) == "Body"), None)
    request = next(iter(body), None) if body is not None else None
    if request is None:
        raise MetadataFault("INVALID_XML", "The SOAP request has no Body element", "soapenv:Client")
    token = None
    if header is not None:
        token = next(
            ((e.text or "").strip() for e in header.iter() if local(e.tag) == "sessionId"), None
        )
    try:
        session = org.sessions.check(token or None)
    except SalesforceError as exc:
        raise MetadataFault(
            "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
        ) from exc
    name = local(request.tag)
    operation = OPERATIONS.get(name)
    if operation is None:
        raise MetadataFault(
            "UNKNOWN_OPERATION",
            f"No operation available for request {{{MD_NS}}}{name}, please check the WSDL for "
            f"the service. The Salesforce sandbox serves {', '.join(OPERATIONS)}.",
            "soapenv:Client",
        )
    return _response(name, operation(MetadataService(org), _collect(request), session))


# REST deploy -------------------------------------------------------------------------------
def _multipart(call: Call) -> dict[str, tuple[str, bytes]]:
    """Parts of a ``multipart/form-data`` body by name: (content type, bytes)."""
    content_type = call.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        raise SalesforceError(
            "INVALID_MULTIPART_REQUEST",
            "A deployRequest is multipart/form-data with the parts entity_content "
            "(JSON deployOptions) and file (the zip)",
        )
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + call.body)
    parts: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = (part.get_content_type(), payload)
    return parts


def _rest_body(service: MetadataService, job_id: str, include_details: bool) -> dict[str, Any]:
    job = service.job(job_id, "deploy")
    return {
        "id": job["id"],
        "validatedDeployRequestId": None,
        "deployOptions": job["options"],
        "deployResult": service.deploy_result(job_id, include_details),
    }


def deploy_request(org: Org, call: Call) -> Reply:
    """``POST …/metadata/deployRequest``: 201 with the deploy as it was received. A JSON
    body ``{"validatedDeployRequestId": id}`` is a quick deploy of that validation."""
    if call.headers.get("content-type", "").lower().startswith("application/json"):
        return _quick_deploy(org, call)
    parts = _multipart(call)
    if "file" not in parts:
        raise SalesforceError(
            "INVALID_MULTIPART_REQUEST", "The part named file (the zip) is missing"
        )
    raw_options: dict[str, Any] = {}
    if "entity_content" in parts:
        try:
            entity = json.loads(parts["entity_content"][1] or b"{}")
        except ValueError as exc:
            raise SalesforceError("JSON_PARSER_ERROR", f"entity_content: {exc}") from exc
        raw_options = dict((entity or {}).get("deployOptions") or {})
    service = MetadataService(org)
    job = service.deploy(parts["file"][1], DeployOptions.from_wire(raw_options), call.user_id)
    body = _rest_body(service, job["id"], False)
    received = body["deployResult"]
    received.update(
        {
            "status": "Pending",
            "done": False,
            "success": False,
            "completedDate": None,
            "startDate": None,
            "numberComponentErrors": 0,
            "numberComponentsDeployed": 0,
            "numberComponentsTotal": 0,
        }
    )
    return ok(body, 201)


def _quick_deploy(org: Org, call: Call) -> Reply:
    validation = str(call.json_object().get("validatedDeployRequestId") or "")
    service = MetadataService(org)
    try:
        job = service.deploy_recent_validation(validation, call.user_id)
    except UnknownJob as exc:
        raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404) from exc
    except NotValidated as exc:
        fault = _not_validated()
        raise SalesforceError(fault.code, fault.message) from exc
    body = _rest_body(service, job["id"], False)
    body["validatedDeployRequestId"] = service.job(validation, "deploy")["id"]
    return ok(body, 201)


def deploy_request_status(org: Org, call: Call) -> Reply:
    """``GET …/metadata/deployRequest/{id}[?includeDetails=true]``."""
    include = call.query.get("includeDetails", "").lower() == "true"
    try:
        return ok(_rest_body(MetadataService(org), call.params["id"], include))
    except UnknownJob as exc:
        raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404) from exc


def deploy_request_cancel(org: Org, call: Call) -> Reply:
    """``PATCH …/metadata/deployRequest/{id}``, body
    ``{"deployResult": {"status": "Canceling"}}``."""
    service = MetadataService(org)
    try:
        service.cancel_deploy(call.params["id"])
    except UnknownJob as exc:
        raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404) from exc
    except DeployDone as exc:
        raise SalesforceError(
            "INVALID_ID_FIELD", "The deployment has already completed and cannot be canceled"
        ) from exc
    return ok(_rest_body(service, call.params["id"], False), 202)  # pragma: no cover
