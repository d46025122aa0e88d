"""Bulk API 2.0 with the real simple-salesforce: ingest (insert, upsert, update, delete) with
successful/failed/unprocessed results, and query jobs paged by locator."""

from __future__ import annotations

import csv
import io
from typing import Any

from simple_salesforce import Salesforce

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk_insert_then_upsert_with_results(sf: Salesforce) -> None:
    records = [{"Name": f"Bulk {i}", "Stripe_Customer_Id__c": f"cus_{i}"} for i in range(10)]
    records.append({"Name": "Bad", "Stripe_Customer_Id__c": "cus_bad", "Billing_Status__c": "Nope"})
    result = sf.bulk2.Account.insert(records=records, wait=0)
    assert result[0]["numberRecordsProcessed"] == 11
    assert result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    ok_rows = _rows(sf.bulk2.Account.get_successful_records(job_id))
    assert len(ok_rows) == 10
    assert all(r["sf__Created"] == "true" and r["sf__Id"].startswith("001") for r in ok_rows)
    failed = _rows(sf.bulk2.Account.get_failed_records(job_id))
    assert failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert failed[0]["Name"] == "Bad"

    upserts = [
        {"Stripe_Customer_Id__c": f"cus_{i}", "Billing_Status__c": "Current"} for i in range(5, 15)
    ]
    upserted = sf.bulk2.Account.upsert(
        records=upserts, external_id_field="Stripe_Customer_Id__c", wait=0
    )
    assert upserted[0]["numberRecordsFailed"] == 5  # new ones lack the required Name
    outcome = _rows(sf.bulk2.Account.get_successful_records(upserted[0]["job_id"]))
    assert sorted(r["sf__Created"] for r in outcome) == ["false"] * 5
    missing = _rows(sf.bulk2.Account.get_failed_records(upserted[0]["job_id"]))
    assert all(r["sf__Error"].startswith("REQUIRED_FIELD_MISSING:") for r in missing)
    current = sf.query("SELECT COUNT() FROM Account WHERE Billing_Status__c = 'Current'")
    assert current["totalSize"] == 5

    named = [{"Stripe_Customer_Id__c": f"cus_{i}", "Name": f"New {i}"} for i in range(10, 13)]
    created = sf.bulk2.Account.upsert(
        records=named, external_id_field="Stripe_Customer_Id__c", wait=0
    )
    assert created[0]["numberRecordsFailed"] == 0
    created_rows = _rows(sf.bulk2.Account.get_successful_records(created[0]["job_id"]))
    assert [r["sf__Created"] for r in created_rows] == ["true"] * 3


def test_bulk_update_delete_and_null_marker(sf: Salesforce) -> None:
    ids = [sf.Contact.create({"LastName": f"C{i}", "Title": "T"})["id"] for i in range(3)]
    sf.bulk2.Contact.update(
        records=[{"Id": i, "Title": "#N/A", "FirstName": "F"} for i in ids], wait=0
    )
    rows = sf.query("SELECT FirstName, Title FROM Contact")["records"]
    assert {(r["FirstName"], r["Title"]) for r in rows} == {("F", None)}
    deleted = sf.bulk2.Contact.delete(
        records=[{"Id": ids[0]}, {"Id": "003000000000999AAA"}], wait=0
    )
    assert deleted[0]["numberRecordsFailed"] == 1
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 2


def test_bulk_relationship_columns(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Parent", "Stripe_Customer_Id__c": "cus_p"})["id"]
    csv_text = (
        "Stripe_Charge_Id__c,Amount__c,Account__r.Stripe_Customer_Id__c\n"
        "ch_1,10.5,cus_p\nch_2,3,cus_none\n"
    )
    job = sf.bulk2.Stripe_Payment__c.upsert(
        records=list(csv.DictReader(io.StringIO(csv_text))),
        external_id_field="Stripe_Charge_Id__c",
        wait=0,
    )
    assert job[0]["numberRecordsFailed"] == 1
    payment = sf.query("SELECT Account__c, Amount__c FROM Stripe_Payment__c")["records"][0]
    assert payment == {**payment, "Account__c": account, "Amount__c": 10.5}


def test_bulk_query_pages_with_locators(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.seed(
        [{"Name": f"Q{i:03d}", "NumberOfEmployees": i} for i in range(25)], sobject="Account"
    )
    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, Owner.Name FROM Account ORDER BY Name", max_records=10, wait=0
        )
    )
    assert len(pages) == 3
    rows = [r for page in pages for r in _rows(str(page))]
    assert len(rows) == 25
    assert rows[0]["Name"] == "Q000" and rows[0]["Owner.Name"] == "Admin User"
    everything = list(sf.bulk2.Account.query_all("SELECT Name FROM Account", wait=0))
    assert len(everything) == 1 and len(_rows(str(everything[0]))) == 25


def test_bulk_job_lifecycle_over_http(sandbox: SandboxServer, sf: Salesforce) -> None:
    http = sandbox.http()
    base = sf.bulk2_url + "ingest"
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}
    job: dict[str, Any] = http.post(
        base, json={"object": "Account", "operation": "insert"}, headers=headers
    ).json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    upload = http.put(
        f"{base}/{job['id']}/batches",
        data="Name\nA\nB\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    aborted = http.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, headers=headers).json()
    assert aborted["state"] == "Aborted"
    unprocessed = http.get(f"{base}/{job['id']}/unprocessedrecords", headers=headers)
    assert unprocessed.text.splitlines() == ["Name", "A", "B"]
    assert http.delete(f"{base}/{job['id']}", headers=headers).status_code == 204
    missing = http.get(f"{base}/{job['id']}", headers=headers)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"

    failed_job = http.post(
        base, json={"object": "Account", "operation": "insert"}, headers=headers
    ).json()
    http.put(
        f"{base}/{failed_job['id']}/batches",
        data="Nope__c\nx\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    http.patch(f"{base}/{failed_job['id']}", json={"state": "UploadComplete"}, headers=headers)
    info = http.get(f"{base}/{failed_job['id']}", headers=headers).json()
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"


def test_bulk_job_larger_than_one_chunk(sandbox: SandboxServer, sf: Salesforce) -> None:
    rows = [{"Name": f"Many {i}", "Stripe_Customer_Id__c": f"m_{i}"} for i in range(4500)]
    rows[4321]["Billing_Status__c"] = "Nope"
    result = sf.bulk2.Account.upsert(
        records=rows, external_id_field="Stripe_Customer_Id__c", wait=0
    )
    assert result[0]["numberRecordsProcessed"] == 4500
    assert result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    assert len(_rows(sf.bulk2.Account.get_successful_records(job_id))) == 4499
    failed = _rows(sf.bulk2.Account.get_failed_records(job_id))
    assert [r["Stripe_Customer_Id__c"] for r in failed] == ["m_4321"]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 4499


def test_jsforce_style_requests(sandbox: SandboxServer) -> None:
    """Chunked bodies, #N/A nulls, no maxRecords on query results, lowercase paths."""
    http = sandbox.http()
    token = http.post(
        f"{sandbox.instance_url}/services/oauth2/token",
        data=iter(
            [
                b"grant_type=password&client_id=" + sandbox.client_id.encode(),
                b"&client_secret=" + sandbox.client_secret.encode(),
                b"&username="
                + sandbox.username.encode()
                + b"&password="
                + sandbox.password.encode(),
            ]
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    base = f"{sandbox.instance_url}/services/data/v50.0/jobs"
    job = http.post(
        f"{base}/ingest", json={"object": "Contact", "operation": "insert"}, headers=headers
    ).json()
    assert job["contentType"] == "CSV" and job["lineEnding"] == "LF"
    upload = http.put(
        f"{base}/ingest/{job['id']}/batches",
        data=iter([b"LastName,Title,HasOptedOutOfEmail\n", b"A,#N/A,true\nB,Boss,false\n"]),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    http.patch(f"{base}/ingest/{job['id']}", json={"state": "UploadComplete"}, headers=headers)
    info = http.get(f"{base}/ingest/{job['id']}", headers=headers).json()
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 2
    assert http.get(f"{base}/ingest/{job['id']}/unprocessedrecords", headers=headers).text == (
        "LastName,Title,HasOptedOutOfEmail\n"
    )
    query = http.post(
        f"{base}/query",
        json={
            "operation": "query",
            "query": "SELECT LastName, Title FROM Contact ORDER BY LastName",
        },
        headers=headers,
    ).json()
    results = http.get(f"{base}/query/{query['id']}/results", headers=headers)
    assert results.headers["Sforce-Locator"] == "null"
    assert results.headers["Sforce-NumberOfRecords"] == "2"
    assert results.text.splitlines() == ['"LastName","Title"', '"A",""', '"B","Boss"']
