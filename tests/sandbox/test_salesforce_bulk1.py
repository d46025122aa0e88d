"""Bulk API 1.0 over HTTP (``/services/async/{version}/job...``, session in ``X-SFDC-Session``):
XML, JSON and CSV jobs, ingest batches applied through the same record checks as REST and Bulk
2.0, query batches with result lists, job and batch counters, close/abort, the API's errors,
DailyBulkApiBatches; and jsforce's ``conn.bulk`` (with ``conn.search``) as an independent
client."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"
XML_NS = "http://www.force.com/2009/06/asyncapi/dataload"
ROOT = Path(__file__).resolve().parents[2]
JSFORCE = ROOT / "tools" / "sf-cli" / "node_modules" / "@jsforce" / "jsforce-node"
JOB_ELEMENTS = [
    "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
    "concurrencyMode", "contentType", "numberBatchesQueued", "numberBatchesInProgress",
    "numberBatchesCompleted", "numberBatchesFailed", "numberBatchesTotal",
    "numberRecordsProcessed", "numberRetries", "apiVersion", "numberRecordsFailed",
    "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime",
]  # fmt: skip


class Bulk1:
    """A bare Bulk API 1.0 client: requests, the session header, XML parsed to dicts."""

    def __init__(self, sandbox: SandboxServer, version: str = "59.0") -> None:
        self.sandbox = sandbox
        self.http = sandbox.http()
        self.base = f"{sandbox.instance_url}/services/async/{version}"
        self.session = str(sandbox.access_token)

    def call(
        self, method: str, path: str, body: str | bytes = b"", content_type: str = "", **kw: Any
    ) -> requests.Response:
        headers = {"X-SFDC-Session": self.session, **kw.pop("headers", {})}
        if content_type:
            headers["Content-Type"] = content_type
        return self.http.request(method, self.base + path, data=body, headers=headers, **kw)

    def create(self, operation: str, sobject: str, content_type: str = "CSV", **extra: str) -> str:
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{XML_NS}">'
            f"<operation>{operation}</operation><object>{sobject}</object>{fields}"
            f"<contentType>{content_type}</contentType></jobInfo>"
        )
        response = self.call("POST", "/job", body, "application/xml; charset=UTF-8")
        assert response.status_code == 201, response.text
        return str(xml_info(response)["id"])

    def batch(self, job: str, body: str, content_type: str = "text/csv") -> dict[str, str]:
        response = self.call("POST", f"/job/{job}/batch", body.encode(), content_type)
        assert response.status_code == 201, response.text
        return xml_info(response)

    def wait(self, job: str, batch: str) -> dict[str, str]:
        """The batch once done (processing runs on the server's loop; a deadline, not a test)."""
        deadline = time.monotonic() + 30
        while True:
            info = xml_info(self.call("GET", f"/job/{job}/batch/{batch}"))
            if info["state"] not in ("Queued", "InProgress") or time.monotonic() > deadline:
                return info
            time.sleep(0.02)

    def state(self, job: str, state: str) -> requests.Response:
        body = f'<jobInfo xmlns="{XML_NS}"><state>{state}</state></jobInfo>'
        return self.call("POST", f"/job/{job}", body, "application/xml")


def xml_info(response: requests.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/xml"), response.text
    root = ET.fromstring(response.content)
    return {child.tag.removeprefix(NS): child.text or "" for child in root}


def xml_error(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 400, response.text
    root = ET.fromstring(response.content)
    assert root.tag == f"{NS}error"
    return root.findtext(f"{NS}exceptionCode") or "", root.findtext(f"{NS}exceptionMessage") or ""


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def bulk_batches_left(sandbox: SandboxServer) -> int:
    with sandbox.http() as http:
        limits = http.get(
            f"{sandbox.instance_url}/services/data/v59.0/limits",
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        ).json()
    return int(limits["DailyBulkApiBatches"]["Remaining"])


def test_csv_insert_job_batches_results_and_close(sandbox: SandboxServer, sf: Any) -> None:
    api = Bulk1(sandbox)
    before = bulk_batches_left(sandbox)
    created = api.call(
        "POST",
        "/job",
        f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{XML_NS}"><operation>insert'
        "</operation><object>account</object><contentType>CSV</contentType></jobInfo>",
        "application/xml; charset=UTF-8",
    )
    assert created.status_code == 201
    assert created.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?><jobInfo')
    root = ET.fromstring(created.content)
    assert [c.tag.removeprefix(NS) for c in root] == JOB_ELEMENTS  # the XSD's order
    info = xml_info(created)
    assert info["id"].startswith("750") and len(info["id"]) == 18
    assert (info["object"], info["state"], info["apiVersion"]) == ("Account", "Open", "59.0")
    assert info["createdDate"].endswith(".000Z") or info["createdDate"].endswith("Z")
    job = info["id"]

    queued = api.batch(
        job, "Name,Phone,Billing_Status__c\nAcme,555-0100,Current\n,1,\nGlobex,#N/A,\n"
    )
    assert queued["state"] == "Queued" and queued["jobId"] == job
    assert queued["id"].startswith("751")
    done = api.wait(job, queued["id"])
    assert done["state"] == "Completed"
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"]) == ("3", "1")

    result = api.call("GET", f"/job/{job}/batch/{queued['id']}/result")
    assert result.headers["content-type"].startswith("text/csv")
    assert result.text.splitlines()[0] == '"Id","Success","Created","Error"'
    rows = csv_rows(result.text)
    assert [(r["Success"], r["Created"]) for r in rows] == [
        ("true", "true"),
        ("false", "false"),
        ("true", "true"),
    ]
    assert rows[1]["Id"] == ""
    assert rows[1]["Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    acme = sf.Account.get(rows[0]["Id"])
    assert (acme["Name"], acme["Phone"], acme["Billing_Status__c"]) == (
        "Acme",
        "555-0100",
        "Current",
    )
    assert sf.Account.get(rows[2]["Id"])["Phone"] is None

    request = api.call("GET", f"/job/{job}/batch/{queued['id']}/request")
    assert request.text.startswith("Name,Phone,Billing_Status__c\nAcme")

    second = api.batch(job, "Name\nInitech\n")
    listing = api.call("GET", f"/job/{job}/batch")
    batches = ET.fromstring(listing.content)
    assert batches.tag == f"{NS}batchInfoList"
    ids = [b.findtext(f"{NS}id") for b in batches.findall(f"{NS}batchInfo")]
    assert ids == [queued["id"], second["id"]]

    closed = xml_info(api.state(job, "Closed"))
    assert closed["state"] == "Closed"
    assert closed["numberBatchesTotal"] == closed["numberBatchesCompleted"] == "2"
    assert closed["numberBatchesQueued"] == closed["numberBatchesFailed"] == "0"
    assert (closed["numberRecordsProcessed"], closed["numberRecordsFailed"]) == ("4", "1")
    assert xml_info(api.call("GET", f"/job/{job}"))["state"] == "Closed"
    late = api.call("POST", f"/job/{job}/batch", b"Name\nLate\n", "text/csv")
    assert xml_error(late)[0] == "InvalidJobState"
    assert xml_error(api.state(job, "Closed"))[0] == "InvalidJobState"
    assert before - bulk_batches_left(sandbox) == 2  # one DailyBulkApiBatches per batch


def test_upsert_update_delete_and_a_batch_processed_in_chunks(
    sandbox: SandboxServer, sf: Any
) -> None:
    api = Bulk1(sandbox)
    job = api.create("upsert", "Account", externalIdFieldName="Stripe_Customer_Id__c")
    assert xml_info(api.call("GET", f"/job/{job}"))["externalIdFieldName"] == (
        "Stripe_Customer_Id__c"
    )
    rows = "".join(f"cus_{i},Account {i}\n" for i in range(2500))
    batch = api.batch(job, "Stripe_Customer_Id__c,Name\n" + rows)
    done = api.wait(job, batch["id"])
    assert (done["state"], done["numberRecordsProcessed"]) == ("Completed", "2500")
    again = api.batch(job, "Stripe_Customer_Id__c,Name\ncus_7,Seven Renamed\ncus_new,New One\n")
    assert api.wait(job, again["id"])["state"] == "Completed"
    outcome = csv_rows(api.call("GET", f"/job/{job}/batch/{again['id']}/result").text)
    assert [r["Created"] for r in outcome] == ["false", "true"]
    assert sf.query("SELECT Name FROM Account WHERE Stripe_Customer_Id__c = 'cus_7'")["records"][0][
        "Name"
    ] == ("Seven Renamed")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2501

    contacts = api.create("insert", "Contact")
    linked = api.batch(
        contacts, "LastName,Email,Account.Stripe_Customer_Id__c\nGray,g@x.example,cus_7\n"
    )
    contact_id = csv_rows(api.call("GET", f"/job/{contacts}/batch/{linked['id']}/result").text)[0][
        "Id"
    ]
    assert sf.Contact.get(contact_id)["AccountId"] == outcome[0]["Id"]

    update = api.create("update", "Contact")
    changed = api.batch(update, f"Id,Email\n{contact_id},#N/A\n001000000000000AAA,a@b.example\n")
    results = csv_rows(api.call("GET", f"/job/{update}/batch/{changed['id']}/result").text)
    assert [r["Success"] for r in results] == ["true", "false"]
    assert results[1]["Error"] == "NOT_FOUND:The requested resource does not exist: --"
    assert sf.Contact.get(contact_id)["Email"] is None

    delete = api.create("delete", "Contact")
    gone = api.batch(delete, f"Id\n{contact_id}\n")
    assert csv_rows(api.call("GET", f"/job/{delete}/batch/{gone['id']}/result").text)[0][
        "Success"
    ] == ("true")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0

    wrong = api.create("insert", "Account")
    failed = api.wait(wrong, api.batch(wrong, "Name,Nope__c\nA,b\n")["id"])
    assert failed["state"] == "Failed"
    assert failed["stateMessage"] == "InvalidBatch : Field name not found : Nope__c"
    assert xml_info(api.call("GET", f"/job/{wrong}"))["numberBatchesFailed"] == "1"


def test_query_batches_result_list_and_results(sandbox: SandboxServer, sf: Any) -> None:
    api = Bulk1(sandbox)
    sandbox.seed(
        [
            {"attributes": {"type": "Account"}, "Name": "Acme", "Phone": "1"},
            {"attributes": {"type": "Account"}, "Name": 'Say "hi", Inc'},
        ]
    )
    acme = sf.query("SELECT Id FROM Account WHERE Name = 'Acme'")["records"][0]["Id"]
    sf.Contact.create({"LastName": "Gray", "AccountId": acme})
    gone = sf.Account.create({"Name": "Deleted Co"})["id"]
    sf.Account.delete(gone)

    job = api.create("query", "Account")
    batch = api.batch(job, "SELECT Id, Name, Phone FROM Account ORDER BY Name", "text/csv")
    assert api.wait(job, batch["id"])["numberRecordsProcessed"] == "2"
    listing = api.call("GET", f"/job/{job}/batch/{batch['id']}/result")
    root = ET.fromstring(listing.content)
    assert root.tag == f"{NS}result-list"
    result_ids = [r.text for r in root.findall(f"{NS}result")]
    assert len(result_ids) == 1 and str(result_ids[0]).startswith("752")
    data = api.call("GET", f"/job/{job}/batch/{batch['id']}/result/{result_ids[0]}")
    assert data.headers["content-type"].startswith("text/csv")
    lines = data.text.splitlines()
    assert lines[0] == '"Id","Name","Phone"'
    assert lines[1] == f'"{acme}","Acme","1"'
    assert lines[2].endswith('"Say ""hi"", Inc",""')

    contacts = api.create("query", "Contact")
    parent = api.batch(contacts, "SELECT LastName, Account.Name FROM Contact")
    api.wait(contacts, parent["id"])
    listing = api.call("GET", f"/job/{contacts}/batch/{parent['id']}/result")
    result = ET.fromstring(listing.content).findtext(f"{NS}result")
    text = api.call("GET", f"/job/{contacts}/batch/{parent['id']}/result/{result}").text
    assert text.splitlines() == ['"LastName","Account.Name"', '"Gray","Acme"']

    everything = api.create("queryAll", "Account")
    all_rows = api.batch(everything, "SELECT Name, IsDeleted FROM Account WHERE IsDeleted = true")
    assert api.wait(everything, all_rows["id"])["numberRecordsProcessed"] == "1"

    bad = api.batch(job, "SELECT Nope__c FROM Account")
    failed = api.wait(job, bad["id"])
    assert failed["state"] == "Failed"
    assert failed["stateMessage"].startswith("InvalidBatch : ")
    assert "No such column 'Nope__c'" in failed["stateMessage"]
    aggregate = api.wait(job, api.batch(job, "SELECT COUNT(Id) FROM Account")["id"])
    assert aggregate["state"] == "Failed"
    assert "Aggregate" in aggregate["stateMessage"]
    ingest_result = api.call("GET", f"/job/{job}/batch/{batch['id']}/result/752000000000099AAA")
    assert xml_error(ingest_result)[0] == "InvalidBatch"


def test_json_jobs_batches_and_results(sandbox: SandboxServer, sf: Any) -> None:
    api = Bulk1(sandbox)
    created = api.call(
        "POST",
        "/job",
        json.dumps({"operation": "insert", "object": "Account", "contentType": "JSON"}),
        "application/json; charset=UTF-8",
    )
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/json")
    job = created.json()
    assert (job["state"], job["contentType"], job["apiVersion"]) == ("Open", "JSON", 59.0)
    assert job["numberBatchesTotal"] == 0
    records = [
        {"Name": "Json Co", "NumberOfEmployees": 12, "Phone": None},
        {"Name": "Bad Co", "Billing_Status__c": "Nope"},
    ]
    batch = api.call("POST", f"/job/{job['id']}/batch", json.dumps(records), "application/json")
    assert batch.status_code == 201 and batch.json()["state"] == "Queued"
    info = api.call("GET", f"/job/{job['id']}/batch/{batch.json()['id']}").json()
    assert (info["state"], info["numberRecordsFailed"]) == ("Completed", 1)
    results = api.call("GET", f"/job/{job['id']}/batch/{batch.json()['id']}/result").json()
    assert results[0]["success"] is True and results[0]["created"] is True
    assert results[0]["errors"] == []
    assert results[1]["success"] is False and results[1]["id"] is None
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1]["errors"][0]["fields"] == ["Billing_Status__c"]
    assert sf.Account.get(results[0]["id"])["NumberOfEmployees"] == 12
    listed = api.call("GET", f"/job/{job['id']}/batch").json()
    assert [b["id"] for b in listed["batchInfo"]] == [batch.json()["id"]]
    closed = api.call("POST", f"/job/{job['id']}", '{"state": "Closed"}', "application/json")
    assert closed.json()["state"] == "Closed"

    query = api.call(
        "POST",
        "/job",
        json.dumps({"operation": "query", "object": "Account", "contentType": "JSON"}),
        "application/json",
    ).json()
    batch = api.call(
        "POST", f"/job/{query['id']}/batch", "SELECT Id, Name FROM Account", "text/plain"
    )
    listing = api.call("GET", f"/job/{query['id']}/batch/{batch.json()['id']}/result").json()
    assert len(listing) == 1
    rows = api.call(
        "GET", f"/job/{query['id']}/batch/{batch.json()['id']}/result/{listing[0]}"
    ).json()
    assert rows == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v59.0/sobjects/Account/{results[0]['id']}",
            },
            "Id": results[0]["id"],
            "Name": "Json Co",
        }
    ]
    missing = api.call("GET", "/job/750000000000099AAA", headers={"Accept": "application/json"})
    assert missing.status_code == 400
    assert missing.json()["exceptionCode"] == "InvalidJob"


def test_xml_jobs_and_gzip_bodies(sandbox: SandboxServer, sf: Any) -> None:
    api = Bulk1(sandbox)
    job = api.create("insert", "Account", "XML")
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><sObjects xmlns="{XML_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<sObject><Name>Xml Co</Name><Phone xsi:nil="true"/></sObject>'
        "<sObject><Phone>1</Phone></sObject></sObjects>"
    )
    batch = api.call(
        "POST",
        f"/job/{job}/batch",
        gzip.compress(body.encode()),
        "application/xml",
        headers={"Content-Encoding": "gzip"},
    )
    assert batch.status_code == 201, batch.text
    results = ET.fromstring(
        api.call("GET", f"/job/{job}/batch/{xml_info(batch)['id']}/result").content
    )
    assert results.tag == f"{NS}results"
    first, second = results.findall(f"{NS}result")
    assert first.findtext(f"{NS}success") == "true" and first.findtext(f"{NS}id", "")[:3] == "001"
    assert second.findtext(f"{NS}success") == "false"
    assert second.findtext(f"{NS}errors/{NS}statusCode") == "REQUIRED_FIELD_MISSING"
    assert second.findtext(f"{NS}errors/{NS}fields") == "Name"

    query = api.create("query", "Account", "XML")
    qb = api.batch(query, "SELECT Name, Phone FROM Account", "text/plain")
    listing = ET.fromstring(api.call("GET", f"/job/{query}/batch/{qb['id']}/result").content)
    result_id = listing.findtext(f"{NS}result")
    data = ET.fromstring(
        api.call("GET", f"/job/{query}/batch/{qb['id']}/result/{result_id}").content
    )
    assert data.tag == f"{NS}queryResult"
    record = data.find(f"{NS}records")
    assert record is not None
    assert record.findtext(f"{NS}type") == "Account"
    assert record.findtext(f"{NS}Name") == "Xml Co"
    phone = record.find(f"{NS}Phone")
    assert (
        phone is not None and phone.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    )


def test_errors_in_the_bulk_api_1_shape(sandbox: SandboxServer) -> None:
    api = Bulk1(sandbox)
    job_xml = (
        f'<jobInfo xmlns="{XML_NS}"><operation>insert</operation><object>Account</object></jobInfo>'
    )
    with sandbox.http() as http:
        bearer = http.post(
            api.base + "/job",
            data=job_xml,
            headers={
                "Authorization": f"Bearer {sandbox.access_token}",
                "Content-Type": "application/xml",
            },
        )
    assert xml_error(bearer) == ("InvalidSessionId", "Invalid session id")
    api.session = "00D000000000001!expired"
    assert xml_error(api.call("GET", "/job/750000000000001AAA"))[0] == "InvalidSessionId"
    as_json = api.call("POST", "/job", "{}", "application/json")
    assert as_json.status_code == 400
    assert as_json.json() == {
        "exceptionCode": "InvalidSessionId",
        "exceptionMessage": "Invalid session id",
    }
    api.session = str(sandbox.access_token)

    def create_error(body: str) -> tuple[str, str]:
        return xml_error(api.call("POST", "/job", body, "application/xml"))

    code, message = create_error(job_xml.replace("Account", "Nothing__c"))
    assert (code, message) == ("InvalidJob", "Unable to find object: Nothing__c")
    assert create_error(job_xml.replace("insert", "merge"))[0] == "InvalidJob"
    code, message = create_error(job_xml.replace("insert", "upsert"))
    assert code == "InvalidJob" and message.startswith("External ID was blank for Account")
    assert create_error("<jobInfo><operation>insert")[0] == "InvalidXML"
    assert create_error(job_xml.replace("</object>", "</object><contentType>ZIP</contentType>"))[
        0
    ] == ("InvalidJob")

    job = api.create("insert", "Account")
    assert xml_error(api.call("GET", f"/job/{job}/batch/751000000000099AAA"))[0] == "InvalidBatch"
    assert xml_error(api.call("GET", "/job/750000000000099AAA"))[0] == "InvalidJob"
    assert xml_error(api.state(job, "Finished"))[0] == "InvalidJobState"
    aborted = xml_info(api.state(job, "Aborted"))
    assert aborted["state"] == "Aborted"
    assert xml_error(api.state(job, "Aborted"))[0] == "InvalidJobState"
    unknown = api.call("GET", "/jobs")
    assert unknown.status_code == 404
    assert ET.fromstring(unknown.content).findtext(f"{NS}exceptionCode") == "InvalidUrl"


@pytest.mark.skipif(
    not JSFORCE.exists() or shutil.which("node") is None,
    reason="jsforce is not installed (it comes with the sf CLI: make sfcli; needs npm and node)",
)
def test_jsforce_bulk_load_query_and_search(sandbox: SandboxServer) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "JSFORCE": str(JSFORCE),
        "SF_INSTANCE_URL": sandbox.instance_url,
        "SF_ACCESS_TOKEN": str(sandbox.access_token),
        "NODE_EXTRA_CA_CERTS": str(sandbox.ca_path),
    }
    script = Path(__file__).parent / "data" / "jsforce_bulk_search.js"
    done = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    inserted = out["inserted"]
    assert [(r["success"], r["created"]) for r in inserted] == [
        (True, True),
        (True, True),
        (False, False),
    ]
    assert inserted[2]["errors"] == [
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    ]
    upserted = out["upserted"]
    assert upserted[0] == {"id": inserted[1]["id"], "success": True, "created": False, "errors": []}
    assert upserted[1]["created"] is True
    assert out["queried"] == [
        {"Id": inserted[0]["id"], "Name": "JS One"},
        {"Id": upserted[1]["id"], "Name": "JS Three"},
        {"Id": inserted[1]["id"], "Name": "JS Two Renamed"},
    ]
    found = out["searched"]["searchRecords"]
    assert [(r["Name"], r["Stripe_Customer_Id__c"]) for r in found] == [
        ("JS One", "cus_js1"),
        ("JS Three", "cus_js3"),
        ("JS Two Renamed", "cus_js2"),
    ]
    used = sandbox.requests()["by_endpoint"]
    assert used["POST /async/job"] == 3 and used["POST /async/job/{job}/batch"] == 3
    assert used["POST /async/job/{job}"] == 3  # jsforce closes each job
