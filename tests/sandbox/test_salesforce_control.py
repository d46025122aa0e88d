"""Control plane: fault modes, latency, request counts, seed/reset, metadata deploy; the
``salesforce-sandbox`` process and persistence under ``--data``."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox import salesforce_fixtures
from tests.sandbox.salesforce_fixtures import SFDX_EXAMPLE

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def test_fault_503_for_the_next_n_calls(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.add_fault("POST /sobjects/{sobject}", "503", count=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.Account.create({"Name": "x"})
        assert caught.value.status == 503
        assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.Account.create({"Name": "x"})["success"] is True
    faults = sandbox.control_call("GET", "faults")["faults"]
    assert faults[0]["hits"] == 2 and faults[0]["remaining"] == 0


def test_fault_unable_to_lock_row_on_a_route_pattern(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.add_fault("PATCH /composite/sobjects/*", "UNABLE_TO_LOCK_ROW", count=1)
    body = {
        "records": [{"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "c", "Name": "n"}]
    }
    # on a collection the lock shows per record, inside a 200
    path = "composite/sobjects/Account/Stripe_Customer_Id__c"
    locked = sf.restful(path, method="PATCH", json=body)
    assert locked is not None and len(locked) == 1 and locked[0]["success"] is False
    assert locked[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    sandbox.add_fault("PATCH /sobjects/*", "UNABLE_TO_LOCK_ROW", count=1)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.upsert("Stripe_Customer_Id__c/c", {"Name": "n"})
    assert caught.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    sandbox.add_fault("PATCH /composite/*", "UNABLE_TO_LOCK_ROW", count=1, per_record=False)
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(path, method="PATCH", json=body)
    sf.query("SELECT Id FROM Account")  # other routes are unaffected
    result = sf.restful(path, method="PATCH", json=body)
    assert result is not None and result[0]["created"] is True


def test_fault_request_limit_exceeded_by_share(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.add_fault("GET /query", "REQUEST_LIMIT_EXCEEDED", rate=1.0)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    sandbox.clear_faults()
    sandbox.add_fault("GET /query", "503", rate=0.0)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_fault_hang_past_the_client_timeout(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.add_fault(
        "POST /sobjects/{sobject}", "hang", count=1, hang_seconds=1.5, after="process"
    )
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.restful("sobjects/Account", method="POST", json={"Name": "Written anyway"}, timeout=0.3)
    sandbox.add_fault("POST /sobjects/{sobject}", "hang", count=1, hang_seconds=0.2)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful("sobjects/Account", method="POST", json={"Name": "Never"}, timeout=5)
    assert caught.value.status == 503
    # the hung request commits after the client gave up: the classic duplicate-on-retry setup
    names: list[str] = []
    deadline = time.monotonic() + 10
    while not names and time.monotonic() < deadline:
        time.sleep(0.1)
        names = [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]]
    assert names == ["Written anyway"]


def test_latency_and_request_counts(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.set_latency(5, route="GET /limits")
    sf.limits()
    sf.Account.create({"Name": "a"})
    sf.query("SELECT Id FROM Account")
    counts = sandbox.requests()
    assert counts["by_endpoint"] == {
        "GET /limits": 1,
        "GET /query": 1,
        "POST /sobjects/{sobject}": 1,
    }
    assert counts["api_calls"] == 3
    latency = sandbox.control_call("GET", "latency")["latency"]
    assert latency == [{"route": "GET /limits", "ms": 5.0, "jitter_ms": 0.0}]
    sandbox.reset_requests()
    assert sandbox.requests()["api_calls"] == 0


def test_updated_and_deleted_resources(sf: Salesforce) -> None:
    kept = sf.Account.create({"Name": "kept"})["id"]
    gone = sf.Account.create({"Name": "gone"})["id"]
    sf.Account.delete(gone)
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    end = start + datetime.timedelta(minutes=10)
    assert sf.Account.updated(start, end)["ids"] == [kept]
    assert [d["id"] for d in sf.Account.deleted(start, end)["deletedRecords"]] == [gone]


def test_seed_with_system_fields_and_reset(sandbox: SandboxServer, sf: Salesforce) -> None:
    ids = sandbox.seed(
        [
            {
                "attributes": {"type": "Account"},
                "Name": "Old",
                "CreatedDate": "2020-01-01T00:00:00Z",
            },
            {"attributes": {"type": "Contact"}, "LastName": "Seeded"},
        ]
    )
    assert ids[0].startswith("001") and ids[1].startswith("003")
    old = sf.query("SELECT Name FROM Account WHERE CreatedDate < 2021-01-01T00:00:00Z")
    assert old["records"][0]["Name"] == "Old"
    assert sandbox.requests()["api_calls"] == 1  # seeding is not an API call
    sandbox.reset()
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_control_plane_deploy_files() -> None:
    field = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">'
        "<fullName>Tier__c</fullName><label>Tier</label><type>Picklist</type>"
        "<valueSet><restricted>true</restricted><valueSetDefinition>"
        "<value><fullName>Gold</fullName><default>true</default><label>Gold</label></value>"
        "<value><fullName>Silver</fullName><default>false</default><label>Silver</label></value>"
        "</valueSetDefinition></valueSet></CustomField>"
    )
    with run_sandbox() as server:
        client = server.salesforce()
        with pytest.raises(SalesforceMalformedRequest):
            client.Account.create({"Name": "a", "Tier__c": "Gold"})
        deployed = server.control_call(
            "POST", "deploy", {"files": {"objects/Account/fields/Tier__c.field-meta.xml": field}}
        )
        assert deployed["deployed"] == ["Account.Tier__c"]
        created = client.Account.create({"Name": "a"})
        assert client.Account.get(created["id"])["Tier__c"] == "Gold"
        with pytest.raises(SalesforceMalformedRequest) as caught:
            client.Account.create({"Name": "b", "Tier__c": "Bronze"})
        assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        assert server.deploy(SFDX_EXAMPLE)
        assert client.Stripe_Payment__c.describe()["keyPrefix"].startswith("a0")
        bad = server.http().post(
            f"{server.control}/deploy",
            json={"files": {"objects/Nope/fields/X__c.field-meta.xml": field}},
        )
        assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_METADATA"


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "salesforce_sandbox.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on (https://\S+)", line)
    assert found, line + (process.stdout.read() if process.poll() is not None else "")
    return process, found.group(1)


def test_cli_process_persists_state_in_data_dir(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    help_text = subprocess.run(
        [sys.executable, "-m", "salesforce_sandbox.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    for default in (
        "admin@sandbox.example.com",
        "sandbox-password",
        "SANDBOXTOKEN",
        "/_sandbox/faults",
    ):
        assert default in help_text
    args = ["--port", "0", "--data", str(tmp_path), "--metadata", str(SFDX_EXAMPLE)]
    process, url = _start(args, env)
    try:
        assert (tmp_path / "ca.pem").exists()
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tmp_path / "ca.pem")
        client = Salesforce(
            username="admin@sandbox.example.com",
            password="sandbox-password",
            security_token="SANDBOXTOKEN",
            domain=url.split("://")[1] + "/login",
            session=session,
        )
        created = client.Account.upsert("Stripe_Customer_Id__c/cus_keep", {"Name": "Kept"})
        assert created == 201
    finally:
        session.close()
        process.terminate()
        process.wait(timeout=10)
    process, url = _start(args, env)
    try:
        client = Salesforce(
            instance_url=url,
            session_id="00D000000000001!SANDBOX.STATIC.ACCESS.TOKEN",
            session=session,
        )
        rows = client.query("SELECT Name, Stripe_Customer_Id__c FROM Account")["records"]
        assert [r["Name"] for r in rows] == ["Kept"]
        second = client.Account.create({"Name": "Second"})["id"]
        assert second != rows[0]["attributes"]["url"].rsplit("/", 1)[1]
    finally:
        session.close()
        process.terminate()
        process.wait(timeout=10)


def test_redeploy_as_external_id_indexes_existing_values(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    def field(external: bool) -> dict[str, dict[str, str]]:
        xml = (
            '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">'
            "<fullName>Legacy_Code__c</fullName><label>Legacy Code</label><type>Text</type>"
            f"<length>20</length><externalId>{str(external).lower()}</externalId></CustomField>"
        )
        return {"files": {"objects/Account/fields/Legacy_Code__c.field-meta.xml": xml}}

    sandbox.control_call("POST", "deploy", field(False))
    created = sf.Account.create({"Name": "Old", "Legacy_Code__c": "LC-1"})["id"]
    sandbox.control_call("POST", "deploy", field(True))
    assert sf.Account.upsert("Legacy_Code__c/lc-1", {"Name": "Renamed"}) == 200
    assert sf.Account.get(created)["Name"] == "Renamed"
    sandbox.reset(schema=True)
    sandbox.deploy(SFDX_EXAMPLE)
