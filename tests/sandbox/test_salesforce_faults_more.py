"""The fault knobs a fault soak needs, through simple-salesforce and plain HTTPS: collection
and composite calls where only some records fail, 500 / INVALID_SESSION_ID / connection
resets, jittered latency, per-rule removal and bad knob values."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceGeneralError

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf

UPSERT = "composite/sobjects/Account/Stripe_Customer_Id__c"


def _accounts(count: int, prefix: str = "cus_") -> list[dict[str, Any]]:
    return [
        {
            "attributes": {"type": "Account"},
            "Stripe_Customer_Id__c": f"{prefix}{i}",
            "Name": f"A{i}",
        }
        for i in range(count)
    ]


def _stored_keys(sf: Salesforce) -> set[str]:
    rows = sf.query("SELECT Stripe_Customer_Id__c FROM Account")["records"]
    return {r["Stripe_Customer_Id__c"] for r in rows}


def test_record_rate_fails_some_records_and_commits_the_others(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    rule = sandbox.add_fault("PATCH /composite/sobjects/*", "UNABLE_TO_LOCK_ROW", record_rate=0.5)
    records = _accounts(40)
    results = sf.restful(UPSERT, method="PATCH", json={"allOrNone": False, "records": records})
    assert results is not None and len(results) == 40
    failed = [r for r in results if not r["success"]]
    succeeded = [r for r in results if r["success"]]
    assert failed and succeeded  # 40 records at 0.5: both kinds (odds of not: 2 in 10^12)
    assert {e["errors"][0]["statusCode"] for e in failed} == {"UNABLE_TO_LOCK_ROW"}
    # exactly the records that succeeded were committed
    expected = {
        rec["Stripe_Customer_Id__c"]
        for rec, result in zip(records, results, strict=True)
        if result["success"]
    }
    assert _stored_keys(sf) == expected
    shown = sandbox.control_call("GET", "faults")["faults"][0]
    assert shown["id"] == rule["id"] and shown["record_rate"] == 0.5
    assert shown["hits"] == 1 and shown["failed_records"] == len(failed)


def test_record_rate_with_all_or_none_rolls_the_whole_call_back(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.add_fault("PATCH /composite/sobjects/*", "500", record_rate=0.5)
    results = sf.restful(UPSERT, method="PATCH", json={"allOrNone": True, "records": _accounts(40)})
    assert results is not None and all(not r["success"] for r in results)
    codes = {r["errors"][0]["statusCode"] for r in results}
    assert codes == {"UNKNOWN_EXCEPTION", "ALL_OR_NONE_OPERATION_ROLLED_BACK"}
    assert _stored_keys(sf) == set()


def test_record_rate_on_collection_create_and_delete(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.add_fault("* /composite/sobjects", "UNABLE_TO_LOCK_ROW", rate=1.0, record_rate=1.0)
    created = sf.restful(
        "composite/sobjects", method="POST", json={"records": _accounts(3, "new_")}
    )
    assert created is not None and [r["success"] for r in created] == [False] * 3
    sandbox.clear_faults()
    ids = [
        r["id"]
        for r in sf.restful("composite/sobjects", method="POST", json={"records": _accounts(3)})
    ]
    sandbox.add_fault("DELETE /composite/sobjects", "UNABLE_TO_LOCK_ROW", record_rate=1.0)
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids)})
    assert deleted is not None and [r["id"] for r in deleted] == ids
    assert {r["errors"][0]["statusCode"] for r in deleted} == {"UNABLE_TO_LOCK_ROW"}
    assert len(_stored_keys(sf)) == 3


def test_record_rate_on_composite_and_graph_subrequests(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.add_fault("POST /composite*", "UNABLE_TO_LOCK_ROW", rate=1.0, record_rate=1.0)
    path = "/services/data/v59.0/sobjects/Account"
    composite = {
        "allOrNone": False,
        "compositeRequest": [
            {"method": "POST", "url": path, "referenceId": "a", "body": {"Name": "A"}},
            {"method": "GET", "url": path + "/describe", "referenceId": "d"},
        ],
    }
    answer = sf.restful("composite", method="POST", json=composite)
    assert answer is not None
    first, second = answer["compositeResponse"]
    assert first["httpStatusCode"] == 400
    assert first["body"][0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert second["httpStatusCode"] == 200  # reads are not failed
    graph = {
        "graphs": [
            {
                "graphId": "g1",
                "compositeRequest": [
                    {"method": "POST", "url": path, "referenceId": "a", "body": {"Name": "G"}}
                ],
            }
        ]
    }
    answer = sf.restful("composite/graph", method="POST", json=graph)
    assert answer is not None and answer["graphs"][0]["isSuccessful"] is False
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_record_rate_elsewhere_fails_the_whole_call(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.add_fault("POST /sobjects/{sobject}", "500", record_rate=0.5)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Account.create({"Name": "x"})
    assert caught.value.status == 500


def test_500_and_invalid_session_modes(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.add_fault("GET /query", "500", count=1)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 500
    (error,) = caught.value.content
    assert error["errorCode"] == "UNKNOWN_EXCEPTION"
    assert error["message"].startswith("An unexpected error occurred")
    sandbox.add_fault("GET /query", "INVALID_SESSION_ID", count=1)
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Account")
    assert expired.value.status == 401
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0  # one call each


def test_reset_drops_the_connection_before_or_after_the_write(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.add_fault("POST /sobjects/{sobject}", "reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Account.create({"Name": "never"})
    sandbox.add_fault("POST /sobjects/{sobject}", "reset", count=1, after="process")
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Account.create({"Name": "written"})
    # the server is fine afterwards, and only the second write was committed
    names = [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]]
    assert names == ["written"]
    assert sandbox.control_call("GET", "faults")["faults"][1]["hits"] == 1


def test_reset_is_a_tcp_reset_at_the_socket(sandbox: SandboxServer) -> None:
    """TLS over a raw socket: no answer is decrypted and the TCP stream ends with a reset (the
    ``ssl`` module itself reports a reset as a plain EOF, hence the memory BIOs)."""
    sandbox.add_fault("GET /limits", "reset", count=1)
    host, port = sandbox.host_port.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        request = "GET /services/data/v59.0/limits HTTP/1.1\r\nHost: x\r\n"
        tls.write(f"{request}Authorization: Bearer {sandbox.access_token}\r\n\r\n".encode())
        raw.sendall(outgoing.read())
        with pytest.raises(ConnectionResetError):
            while chunk := raw.recv(65536):  # session tickets may come first
                incoming.write(chunk)
    with pytest.raises(ssl.SSLWantReadError):
        tls.read()  # nothing of an HTTP answer arrived


def test_jittered_latency_is_listed_and_validated(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.set_latency(1, route="GET /limits", jitter_ms=4)
    sandbox.control_call("POST", "latency", {"route": "GET /query", "min_ms": 1, "max_ms": 3})
    sf.limits()
    sf.query("SELECT Id FROM Account")
    assert sandbox.control_call("GET", "latency")["latency"] == [
        {"route": "GET /limits", "ms": 1.0, "jitter_ms": 4.0},
        {"route": "GET /query", "ms": 1.0, "jitter_ms": 2.0},
    ]
    with sandbox.http() as session:
        bad = session.post(f"{sandbox.control}/latency", json={"min_ms": 5, "max_ms": 2})
        assert bad.status_code == 400
        assert "min_ms <= max_ms" in bad.json()[0]["message"]
        bad = session.post(f"{sandbox.control}/latency", json={"ms": "soon"})
        assert bad.status_code == 400 and "ms must be a number" in bad.json()[0]["message"]
    sandbox.clear_latency()
    assert sandbox.control_call("GET", "latency")["latency"] == []


def test_jitter_draws_from_the_whole_range(sandbox: SandboxServer) -> None:
    """The jitter is a uniform draw in [ms, ms + jitter_ms] (checked on the model, no timing)."""
    faults = sandbox.org.faults
    faults.set_latency("GET /x", 10, 20)
    draws = [faults.delay("GET /x") for _ in range(500)]
    assert min(draws) >= 0.010 and max(draws) <= 0.030
    assert max(draws) - min(draws) > 0.015
    assert faults.delay("GET /other") == 0.0
    faults.latency.clear()


def test_remove_one_rule_by_id(sandbox: SandboxServer, sf: Salesforce) -> None:
    first = sandbox.add_fault("GET /query", "503", rate=1.0)
    second = sandbox.add_fault("GET /limits", "503", rate=1.0)
    removed = sandbox.remove_fault(first["id"])
    assert removed["id"] == first["id"] and removed["route"] == "GET /query"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert [r["id"] for r in sandbox.control_call("GET", "faults")["faults"]] == [second["id"]]
    with sandbox.http() as session:
        unknown = session.delete(f"{sandbox.control}/faults/{first['id']}")
        assert unknown.status_code == 404
        (error,) = unknown.json()
        assert error["errorCode"] == "NOT_FOUND"
        assert f"no fault rule with id '{first['id']}'" in error["message"]
        assert f"current rule ids: {second['id']}" in error["message"]
        assert session.delete(f"{sandbox.control}/faults/abc").status_code == 404
    sandbox.clear_faults()
    assert sandbox.control_call("GET", "faults")["faults"] == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"mode": "teapot"}, "mode must be one of"),
        ({"mode": "503", "rate": 1.5}, "rate must be a number from 0 to 1"),
        ({"mode": "503", "count": "many"}, "count must be a number"),
        ({"mode": "503", "count": 1.5}, "count must be a whole number"),
        ({"mode": "hang", "record_rate": 0.3}, "record_rate works with mode"),
        ({"mode": "503", "per_record": "yes"}, "per_record must be true or false"),
        ({"mode": "503", "ratee": 0.1}, "unknown fault option 'ratee'"),
        ({"mode": "reset", "after": "later"}, "after must be 'error' or 'process'"),
    ],
)
def test_bad_fault_values_answer_400(
    sandbox: SandboxServer, payload: dict[str, Any], message: str
) -> None:
    with sandbox.http() as session:
        answer = session.post(f"{sandbox.control}/faults", json=payload)
    assert answer.status_code == 400
    (error,) = answer.json()
    assert error["errorCode"] == "INVALID_FAULT" and message in error["message"]
    assert sandbox.control_call("GET", "faults")["faults"] == []


def test_reset_clears_every_fault_and_latency(sandbox: SandboxServer) -> None:
    sandbox.add_fault("*", "UNABLE_TO_LOCK_ROW", rate=0.5, record_rate=0.2)
    sandbox.add_fault("*", "reset", count=3)
    sandbox.set_latency(20, jitter_ms=20)
    sandbox.reset()
    assert sandbox.control_call("GET", "faults") == {"faults": [], "latency": []}


def test_help_documents_the_new_knobs() -> None:
    from salesforce_sandbox.cli import EPILOG

    for knob in ('"reset"', '"500"', "INVALID_SESSION_ID", "record_rate", "jitter_ms", "faults/ID"):
        assert knob in EPILOG
