"""``Call`` (a parsed request) and ``Reply`` (what to send), shared by every handler.

Composite resources build ``Call`` objects for their subrequests and call the same handlers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesforce_sandbox.errors import SalesforceError, json_parser_error

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"
XML_TYPE = "text/xml;charset=UTF-8"

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    return _encoder.encode(value).encode("utf-8")


@dataclass
class Call:
    method: str
    params: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    version: str = "59.0"
    instance_url: str = ""
    user_id: str = ""
    body_path: Path | None = None
    # fault injection: per record (or subrequest) of a multi-record write, the error it fails
    # with, or None (``models.faults.Faults.record_fault``)
    record_fault: Callable[[], SalesforceError | None] | None = None
    _json: Any = None

    def json(self) -> Any:
        if self._json is None:
            if self.body.strip() == b"":
                raise json_parser_error("The request body is empty.")
            try:
                self._json = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise json_parser_error(f"Unexpected character: {exc}") from exc
        return self._json

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise json_parser_error("Expected a JSON object")
        return data

    @property
    def api_version(self) -> float:
        try:
            return float(self.version)
        except ValueError:
            return 59.0


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.status == 204 or (self.body is None and self.status != 200):
            return b""
        return dumps(self.body)


def error_reply(error: SalesforceError) -> Reply:
    """The one place a REST error becomes a response."""
    return Reply(error.status, error.rest_body())


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, body, headers=headers or {})


def no_content() -> Reply:
    return Reply(204)
