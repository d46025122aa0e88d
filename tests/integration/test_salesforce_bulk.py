"""Bulk API 2.0 ingest through SalesforceClient.execute: a few thousand upserts, per-row
outcomes, failed rows, a job that fails as a whole."""

from __future__ import annotations

import pytest

from salesforce_sandbox.testing import SandboxServer
from stripe2sf.domain.batch.calls import SalesforceCall, batch
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.domain.operations import Operation, RecordRef
from stripe2sf.salesforce import SalesforceClient
from tests.integration.salesforce_org import client, count, org, salesforce_org

__all__ = ["client", "org", "salesforce_org"]

KEY = "Stripe_Customer_Id__c"
N = 3000


def accounts(n: int, bad: set[int] = frozenset()) -> list[Operation]:  # type: ignore[assignment]
    return [
        Operation(
            f"a{i}",
            "upsert",
            "Account",
            KEY,
            f"cus_bulk{i:05d}",
            {
                "Name": f"Customer, {i}",  # a comma: the CSV must quote it
                "Subscription_Status__c": "Bogus" if i in bad else "Active",
            },
        )
        for i in range(n)
    ]


def test_bulk_ingest_of_thousands(client: SalesforceClient, org: SandboxServer) -> None:
    ops = accounts(N, bad={7, 1500, 2999})
    calls = batch(ops, api_version=f"v{client.api_version}")
    assert [c.kind for c in calls] == ["bulk_ingest"]
    result = client.execute(calls)
    assert len(result.outcomes) == N
    assert result.failures == {"a7": "permanent", "a1500": "permanent", "a2999": "permanent"}
    assert result.outcomes["a7"].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert result.outcomes["a0"].ok and result.outcomes["a0"].created is True
    assert result.outcomes["a0"].record_id
    with pytest.raises(PermanentError) as caught:
        result.raise_for_failures()
    assert caught.value.kind == "salesforce.INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    rows = client.query_all(f"SELECT Id, Name FROM Account WHERE {KEY} = 'cus_bulk00042'")
    assert rows[0]["Name"] == "Customer, 42"
    assert count(client, "Account") == N - 3
    # again: every row is an update; the usage snapshot counts each HTTP call of the jobs
    again = client.execute(calls)
    assert again.outcomes["a0"].created is False
    assert count(client, "Account") == N - 3
    by_kind = client.usage().calls_by_kind()
    assert by_kind["bulk"] >= 12  # create, upload, close, poll, 2 results; twice


def test_bulk_with_lookups_by_external_id(client: SalesforceClient) -> None:
    version = f"v{client.api_version}"
    client.execute(batch(accounts(3), api_version=version))
    pays = [
        Operation(
            f"p{i}",
            "upsert",
            "Stripe_Payment__c",
            "Stripe_Charge_Id__c",
            f"ch_bulk{i}",
            {"Status__c": "Succeeded"},
            refs={"Account__c": RecordRef("Account", KEY, f"cus_bulk{i % 3:05d}")},
        )
        for i in range(30)
    ]
    calls = batch(pays, api_version=version, bulk_threshold=10)
    assert [c.kind for c in calls] == ["bulk_ingest"]
    result = client.execute(calls)
    assert result.ok, result.error()
    rows = client.query_all("SELECT Account__r.Stripe_Customer_Id__c FROM Stripe_Payment__c")
    assert len(rows) == 30 and rows[0]["Account__r"][KEY].startswith("cus_bulk")


def test_bulk_job_that_fails_as_a_whole(client: SalesforceClient) -> None:
    (good,) = batch(accounts(3), api_version=f"v{client.api_version}", bulk_threshold=2)
    broken = SalesforceCall(
        "bulk_ingest",
        good.method,
        good.path,
        good.body,
        good.record_op_ids,
        csv_data=(good.csv_data or "").replace("Subscription_Status__c", "No_Such_Field__c"),
    )
    result = client.execute([broken])
    assert len(result.outcomes) == 3 and not result.succeeded
    assert {o.code for o in result.outcomes.values()} == {"BULK_INVALID_BATCH"}
    assert "No_Such_Field__c" in (result.outcomes["a0"].error or "")
    error = result.error()
    assert isinstance(error, PermanentError) and error.kind == "salesforce.BULK_INVALID_BATCH"
    assert count(client, "Account") == 0


def test_bulk_upload_fault_aborts_the_job(client: SalesforceClient, org: SandboxServer) -> None:
    calls = batch(accounts(5), api_version=f"v{client.api_version}", bulk_threshold=2)
    org.add_fault("PUT /jobs/ingest/{job}/batches", "503", count=1)
    result = client.execute(calls)
    assert {o.code for o in result.outcomes.values()} == {"SERVER_UNAVAILABLE"}
    assert result.verdict == "retryable"
    assert isinstance(result.error(), RetryableError)
    listing = client.send("GET", client.data_path("jobs/ingest"), kind="bulk").json()
    assert [j["state"] for j in listing["records"]] == ["Aborted"]
    assert client.execute(calls).ok and count(client, "Account") == 5
