"""The server's HTTP path (requests read into a reusable buffer per connection, a response's
head and body written together, interim responses at once) and its per-request API count."""

from __future__ import annotations

import json
import socket
import ssl

import pytest
from simple_salesforce import Salesforce

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models import limits
from salesforce_sandbox.models.limits import ApiUsage
from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.transport import READ_BUFFER_BYTES
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def test_a_body_several_times_the_read_buffer_arrives_whole(sf: Salesforce) -> None:
    records = [
        {
            "attributes": {"type": "Account"},
            "Name": f"Big {i}",
            "Description": f"{i:04d}" + "é" * 999 + "x" * 1000,
        }
        for i in range(200)
    ]
    result = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert result is not None and all(r["success"] for r in result)
    found = sf.query_all("SELECT Name, Description FROM Account WHERE Name LIKE 'Big %'")
    assert found["totalSize"] == 200
    by_name = {r["Name"]: r["Description"] for r in found["records"]}
    assert by_name == {r["Name"]: r["Description"] for r in records}
    assert len(str(records).encode()) > 4 * READ_BUFFER_BYTES


def test_many_requests_on_one_connection(sandbox: SandboxServer, sf: Salesforce) -> None:
    ids = [sf.Account.create({"Name": f"Keep {i}"})["id"] for i in range(30)]
    for i, record_id in enumerate(ids):
        sf.Account.update(record_id, {"Phone": str(i)})
        assert sf.Account.get(record_id)["Phone"] == str(i)
    assert sandbox.requests()["api_calls"] == 90


def test_api_usage_rolls_over_24_hourly_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    hour = [1000]
    monkeypatch.setattr(limits, "_hour", lambda: hour[0])
    usage = ApiUsage(daily_limit=5)
    usage.charge("GET /limits")
    usage.charge("GET /limits")
    hour[0] += 10
    usage.charge("GET /query")
    assert usage.used == 3
    assert usage.header() == "api-usage=3/5"
    hour[0] += 14  # the first hour's two calls are now more than 23 hours old
    assert usage.used == 1
    usage.charge("GET /query")
    usage.used = 4
    assert usage.used == 4
    usage.charge("GET /query")
    with pytest.raises(SalesforceError) as refused:
        usage.charge("GET /query")
    assert refused.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert (usage.used, usage.requests, usage.refused) == (5, 6, 1)
    hour[0] += 24
    assert usage.used == 0
    usage.reset()
    assert usage.snapshot()["api_calls"] == 0


def test_100_continue_is_sent_before_the_body_arrives(sandbox: SandboxServer) -> None:
    """A client that sends ``Expect: 100-continue`` (curl does for large uploads) waits for the
    interim response before sending its body: it must not be held back with the final one."""
    host, port = sandbox.host_port.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    body = json.dumps({"Name": "Continued"}).encode()
    head = (
        f"POST /services/data/v59.0/sobjects/Account/ HTTP/1.1\r\nHost: {sandbox.host_port}\r\n"
        f"Authorization: Bearer {sandbox.access_token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(head)
        tls.settimeout(0.5)
        assert tls.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        tls.settimeout(5)
        tls.sendall(body)
        reply = b""
        while b'"success":true' not in reply:
            chunk = tls.recv(4096)
            assert chunk, reply
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 201 ")
