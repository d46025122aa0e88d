"""The ASGI application: control plane, logins, and the data API (auth, API accounting, faults,
latency, dispatch). Errors become wire responses here and only here."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import Token
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from salesforce_sandbox import routes
from salesforce_sandbox.api import bulk1, control
from salesforce_sandbox.api.auth import bearer_token
from salesforce_sandbox.api.http import XML_TYPE, Call, Reply, error_reply
from salesforce_sandbox.errors import OAuthError, SalesforceError, SoapFault
from salesforce_sandbox.models.duplicates import HEADER as DUPLICATE_RULE_HEADER
from salesforce_sandbox.models.duplicates import request_options
from salesforce_sandbox.models.faults import fault_error
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.pubsub.origin import CALL_OPTIONS_HEADER, CHANGE_ORIGIN, api_of, describe
from salesforce_sandbox.transport import RESET_EXTENSION

log = logging.getLogger("salesforce_sandbox")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SandboxApp:
    def __init__(self, org: Org) -> None:
        self.org = org

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            reply, limit_header = await self._handle(scope, receive)
        except _ResetConnection:
            reset = scope.get("extensions", {}).get(RESET_EXTENSION)
            if reset is not None:
                reset()
                for _ in range(3):  # let the server see the connection gone before we return
                    await asyncio.sleep(0)
                return
            reply, limit_header = error_reply(fault_error("503")), True  # not our server
        await self._send(send, reply, limit_header)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[Reply, bool]:
        org = self.org
        method = scope["method"].upper()
        raw = scope.get("raw_path")
        raw_path = raw.decode("latin-1") if raw else scope["path"]
        raw_path = collapse_slashes(raw_path.split("?", 1)[0])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query_string = scope.get("query_string")
        query = (
            dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
            if query_string
            else {}
        )
        host = headers.get("host") or f"{org.settings.host}:{org.settings.port}"
        instance_url = org.settings.public_url or f"https://{host}"
        try:
            if raw_path.startswith("/_sandbox"):
                return await self._control(
                    scope, receive, method, raw_path, headers, query, instance_url
                ), False
            found = routes.match_data(method, raw_path)
            if isinstance(found, SalesforceError):
                await _read_body(receive)
                return error_reply(found), True
            if found is not None:
                return await self._data(
                    found, scope, receive, method, headers, query, instance_url
                ), True
            bulk_v1 = routes.match_async(method, raw_path)
            if bulk_v1 is not None:
                return await self._bulk_v1(
                    bulk_v1, scope, receive, method, headers, query, instance_url
                ), True
            auth_route = routes.match_auth(method, routes.decode_path(raw_path))
            if auth_route is None:
                await _read_body(receive)
                return error_reply(
                    SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
                ), False
            name, handler, params = auth_route
            call = Call(
                method,
                params,
                query,
                headers,
                await _read_body(receive),
                instance_url=instance_url,
            )
            org.usage.note(f"{method} {name}")
            return handler(org, call), False
        except SalesforceError as error:
            return error_reply(error), True
        except _ResetConnection:
            raise
        except OAuthError as error:
            return Reply(error.status, error.body()), False
        except SoapFault as fault:
            return Reply(500, raw=fault.xml().encode(), content_type=XML_TYPE), False
        except Exception as exc:  # a bug: answer like Salesforce does and log it
            log.exception("unhandled error for %s %s", method, raw_path)
            return Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": repr(exc)}]), True

    async def _data(
        self,
        found: routes.Match,
        scope: Scope,
        receive: Receive,
        method: str,
        headers: dict[str, str],
        query: dict[str, str],
        instance_url: str,
    ) -> Reply:
        org = self.org
        route = found.route
        body_path: Path | None = None
        body = b""
        try:
            if route.spool:
                body_path = await _spool_body(receive, org.settings.data_dir)
            else:
                body = await _read_body(receive)
            if route.session_header:
                token = headers.get(route.session_header)
            else:
                token = bearer_token(headers, query)
            session = org.sessions.check(token)
            endpoint = f"{method} {route.name}"
            org.usage.charge(endpoint)
            fault = org.faults.pick(endpoint)
            reset_after = False
            record_fault = None
            if fault is not None:
                if fault.mode == "hang":
                    await asyncio.sleep(fault.hang_seconds)
                    if fault.after != "process":
                        raise fault_error("503")
                elif fault.mode == "reset":
                    if fault.after != "process":
                        raise _ResetConnection
                    reset_after = True
                elif fault.record_rate is not None and _multi_record_write(method, route.name):
                    record_fault = org.faults.record_fault(fault)
                elif (
                    fault.mode == "UNABLE_TO_LOCK_ROW"
                    and _collection_write(method, route.name)
                    and fault.per_record is not False
                ):
                    return _locked_records(body, query)
                else:
                    raise fault_error(fault.mode)
            delay = org.faults.delay(endpoint)
            if delay:
                await asyncio.sleep(delay)
            call = Call(
                method,
                found.params,
                query,
                headers,
                body,
                found.version,
                instance_url,
                session.user_id,
                body_path,
                record_fault,
            )
            # Bulk API jobs have no duplicate rule header: their alerts always refuse
            bulk_job = route.name.startswith(("/jobs/", "/async"))
            header = None if bulk_job else headers.get(DUPLICATE_RULE_HEADER)
            origin = change_origin(route.name, found.version, headers)
            try:
                with org.acting_as(session.user_id), request_options(header, found.version):
                    reply = route.handler(org, call)
            except SalesforceError:
                if reset_after:
                    raise _ResetConnection from None
                raise
            finally:
                CHANGE_ORIGIN.reset(origin)
            if reset_after:
                raise _ResetConnection
            return reply
        finally:
            if body_path is not None:
                body_path.unlink(missing_ok=True)

    async def _bulk_v1(
        self,
        found: routes.Match | SalesforceError,
        scope: Scope,
        receive: Receive,
        method: str,
        headers: dict[str, str],
        query: dict[str, str],
        instance_url: str,
    ) -> Reply:
        """Bulk API 1.0: a data call whose errors take that API's XML/JSON shape."""
        try:
            if isinstance(found, SalesforceError):
                await _read_body(receive)
                raise found
            return await self._data(found, scope, receive, method, headers, query, instance_url)
        except SalesforceError as error:
            return bulk1.error_reply(error, headers)

    async def _control(
        self,
        scope: Scope,
        receive: Receive,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        query: dict[str, str],
        instance_url: str,
    ) -> Reply:
        client = scope.get("client")
        if client and not _is_loopback(str(client[0])):
            raise SalesforceError("INSUFFICIENT_ACCESS", "the control plane is loopback-only", 403)
        found = control.find(method, raw_path[len("/_sandbox") :])
        body = await _read_body(receive)
        if found is None:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
        handler, params = found
        call = Call(method, params, query, headers, body, instance_url=instance_url)
        result: Reply = handler(self.org, call)
        return result

    async def _send(self, send: Send, reply: Reply, limit_header: bool) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if reply.status != 204:
            headers.append((b"content-type", reply.content_type.encode()))
        if limit_header:
            headers.append((b"sforce-limit-info", self.org.usage.header().encode()))
        for key, value in reply.headers.items():
            headers.append((key.encode("latin-1"), value.encode("latin-1")))
        if reply.stream is not None:
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            for chunk in reply.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        payload = reply.payload()
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def change_origin(route_name: str, version: str, headers: dict[str, str]) -> Token[str]:
    """Set the ``changeOrigin`` of this call's change events (reset it with the token)."""
    call_options = headers.get(CALL_OPTIONS_HEADER)
    return CHANGE_ORIGIN.set(describe(api_of(route_name), version, call_options))


def collapse_slashes(path: str) -> str:
    """``//services/data//v66.0/`` -> ``/services/data/v66.0/``: Salesforce serves a path with
    repeated slashes like the plain one, and the sf CLI sends them (it keeps the instance URL
    with a trailing slash and appends ``/services/...``)."""
    return _SLASHES.sub("/", path)


_SLASHES = re.compile(r"/{2,}")


class _ResetConnection(Exception):
    """Drop the connection without an answer (the ``reset`` fault)."""


def _multi_record_write(method: str, route_name: str) -> bool:
    """Calls whose records (or subrequests) a ``record_rate`` fault fails one by one."""
    return _collection_write(method, route_name) or (
        method == "POST" and route_name in ("/composite", "/composite/graph")
    )


def _collection_write(method: str, route_name: str) -> bool:
    return (
        route_name.startswith("/composite/sobjects")
        and method in ("POST", "PATCH", "DELETE")
        and not (method == "POST" and route_name == "/composite/sobjects/{sobject}")
    )


def _locked_records(body: bytes, query: dict[str, str]) -> Reply:
    """A collection write where every record hit a row lock (HTTP 200, per-record errors)."""
    count = len([i for i in query.get("ids", "").split(",") if i])
    if body.strip():
        try:
            records = json.loads(body).get("records") or []
            count = len(records) if isinstance(records, list) else 0
        except (ValueError, AttributeError):
            count = 0
    error = fault_error("UNABLE_TO_LOCK_ROW").record_error()
    return Reply(200, [{"success": False, "errors": [error]} for _ in range(count)])


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _spool_body(receive: Receive, data_dir: Path | None) -> Path:
    """Stream a request body to a temporary file (Bulk API CSV uploads)."""
    directory = str(data_dir) if data_dir else None
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".csv", dir=directory)
    with os.fdopen(fd, "wb") as handle:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            handle.write(message.get("body", b""))
            if not message.get("more_body", False):
                break
    return Path(name)
