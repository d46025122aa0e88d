"""What the Salesforce CLI needs from the sandbox, checked over HTTP (quick, no CLI): paths with
repeated slashes, the userinfo ``urls`` block, ``columns=true`` column metadata of aggregate and
subquery SOQL, the Bulk API limit counters and the Tooling API subset."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce

from salesforce_sandbox.config import API_VERSIONS
from salesforce_sandbox.models import limits
from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def _get(sandbox: SandboxServer, path: str, **params: Any) -> Any:
    with sandbox.http() as http:
        response = http.get(
            sandbox.instance_url + path,
            params=params,
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        )
    return response


def test_repeated_slashes_are_served_like_single_ones(sandbox: SandboxServer) -> None:
    sandbox.seed([{"attributes": {"type": "Account"}, "Name": "Slashy"}])
    single = _get(sandbox, "/services/data/v66.0/query", q="SELECT Name FROM Account")
    double = _get(sandbox, "//services/data/v66.0/query", q="SELECT Name FROM Account")
    triple = _get(sandbox, "///services//data///v66.0//query/", q="SELECT Name FROM Account")
    assert single.status_code == double.status_code == triple.status_code == 200
    assert double.json()["records"] == single.json()["records"] == triple.json()["records"]
    assert [r["Name"] for r in single.json()["records"]] == ["Slashy"]
    versions = _get(sandbox, "//services/data")
    assert versions.status_code == 200 and versions.json()[-1]["version"] == "66.0"
    assert _get(sandbox, "//services/oauth2/userinfo").json()["user_id"].startswith("005")
    missing = _get(sandbox, "//services/data/v66.0/nothing")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"


URL_KEYS = {
    "enterprise",
    "metadata",
    "partner",
    "rest",
    "sobjects",
    "search",
    "query",
    "recent",
    "tooling_soap",
    "tooling_rest",
    "profile",
    "feeds",
    "groups",
    "users",
    "feed_items",
    "feed_elements",
    "custom_domain",
}


def test_userinfo_urls_carry_the_version_placeholder(sandbox: SandboxServer) -> None:
    info = _get(sandbox, "/services/oauth2/userinfo").json()
    urls = info["urls"]
    assert set(urls) == URL_KEYS
    base = sandbox.instance_url
    org = info["organization_id"]
    assert urls["rest"] == f"{base}/services/data/v{{version}}/"
    assert urls["tooling_rest"] == f"{base}/services/data/v{{version}}/tooling/"
    assert urls["metadata"] == f"{base}/services/Soap/m/{{version}}/{org}"
    assert urls["partner"] == f"{base}/services/Soap/u/{{version}}/{org}"
    assert urls["enterprise"] == f"{base}/services/Soap/c/{{version}}/{org}"
    assert urls["tooling_soap"] == f"{base}/services/Soap/T/{{version}}/{org}"
    assert urls["feed_elements"] == f"{base}/services/data/v{{version}}/chatter/feed-elements"
    assert urls["profile"] == f"{base}/{info['user_id']}"
    assert urls["custom_domain"] == base
    latest = _get(sandbox, "/services/oauth2/userinfo", version="latest").json()["urls"]
    assert latest["rest"] == f"{base}/services/data/v{API_VERSIONS[-1]}/"
    pinned = _get(sandbox, f"/id/{org}/{info['user_id']}", version="59").json()
    assert pinned["urls"]["sobjects"] == f"{base}/services/data/v59.0/sobjects/"
    assert pinned["id"] == info["sub"] and pinned["username"] == sandbox.username


def _columns(sandbox: SandboxServer, soql: str) -> dict[str, Any]:
    response = _get(sandbox, "/services/data/v66.0/query", q=soql, columns="true")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _shape(column: dict[str, Any]) -> tuple[Any, ...]:
    """The keys the CLI reads, plus the kind flags."""
    return (
        column["columnName"],
        column["displayName"],
        column["aggregate"],
        column["apexType"],
        column["foreignKeyName"],
        [_shape(c) for c in column["joinColumns"]],
    )


COLUMN_KEYS = {
    "aggregate",
    "apexType",
    "booleanType",
    "columnName",
    "custom",
    "displayName",
    "foreignKeyName",
    "insertable",
    "joinColumns",
    "numberType",
    "textType",
    "updatable",
}


def test_columns_of_aggregates_name_functions_and_group_fields(sandbox: SandboxServer) -> None:
    count = _columns(sandbox, "SELECT COUNT(Id) FROM Account")
    assert [_shape(c) for c in count["columnMetadata"]] == [
        ("expr0", "count(Id)", True, None, None, [])
    ]
    (column,) = count["columnMetadata"]
    assert set(column) == COLUMN_KEYS
    assert column["numberType"] is True and column["insertable"] is False
    assert count["entityName"] == "Account" and count["groupBy"] is False
    assert count["idSelected"] is False and count["keyPrefix"] == "001"

    grouped = _columns(
        sandbox,
        "SELECT Subscription_Status__c, count(id), MIN(Name), max(annualrevenue) top,"
        " SUM(AnnualRevenue), AVG(NumberOfEmployees) FROM Account"
        " GROUP BY Subscription_Status__c",
    )
    assert grouped["groupBy"] is True
    shapes = [_shape(c) for c in grouped["columnMetadata"]]
    assert shapes == [
        ("Subscription_Status__c", "Subscription_Status__c", False, "String", None, []),
        ("expr0", "count(Id)", True, None, None, []),
        ("expr1", "min(Name)", True, None, None, []),
        ("top", "max(AnnualRevenue)", True, None, None, []),
        ("expr2", "sum(AnnualRevenue)", True, None, None, []),
        ("expr3", "avg(NumberOfEmployees)", True, None, None, []),
    ]
    status, _, min_name, top, *_ = grouped["columnMetadata"]
    assert status["custom"] is True and status["textType"] is True
    assert status["insertable"] is True and status["updatable"] is True
    assert min_name["textType"] is True and min_name["numberType"] is False
    assert top["numberType"] is True


def test_columns_of_subqueries_and_parent_fields(sandbox: SandboxServer) -> None:
    found = _columns(
        sandbox,
        "SELECT Id, Name, Owner.Name, Owner.Email, (SELECT LastName, Account.Name FROM Contacts)"
        " FROM Account",
    )
    assert found["idSelected"] is True and found["groupBy"] is False
    assert [_shape(c) for c in found["columnMetadata"]] == [
        ("Id", "Id", False, "Id", None, []),
        ("Name", "Name", False, "String", None, []),
        (
            "Owner",
            "Owner",
            False,
            None,
            "OwnerId",
            [
                ("Name", "Name", False, "String", None, []),
                ("Email", "Email", False, "String", None, []),
            ],
        ),
        (
            "Contacts",
            "Contacts",
            True,
            None,
            None,
            [
                ("LastName", "LastName", False, "String", None, []),
                (
                    "Account",
                    "Account",
                    False,
                    None,
                    "AccountId",
                    [("Name", "Name", False, "String", None, [])],
                ),
            ],
        ),
    ]
    ident, name, owner, contacts = found["columnMetadata"]
    assert ident["insertable"] is False and ident["updatable"] is False
    assert name["insertable"] is True and name["textType"] is True
    assert contacts["joinColumns"][0]["insertable"] is True
    assert all(set(c) == COLUMN_KEYS for c in (ident, owner, contacts))
    assert _columns(sandbox, "SELECT COUNT() FROM Account")["columnMetadata"] == []


def _remaining(sf: Salesforce) -> tuple[int, int, int]:
    limits = sf.limits()
    return (
        limits["DailyBulkApiBatches"]["Remaining"],
        limits["DailyBulkV2QueryJobs"]["Remaining"],
        limits["DailyBulkApiBatches"]["Max"],
    )


def test_bulk_allocations_count_down(sandbox: SandboxServer, sf: Salesforce) -> None:
    batches, query_jobs, batch_max = _remaining(sf)
    assert (batches, query_jobs, batch_max) == (15000, 10000, 15000)
    sf.bulk2.Account.insert(records=[{"Name": "One"}, {"Name": "Two"}], wait=0)
    assert _remaining(sf)[:2] == (14999, 10000)  # up to 10,000 records: one internal batch
    records = [{"Name": f"Many {i}"} for i in range(10_001)]
    result = sf.bulk2.Account.insert(records=records, wait=0)
    assert result[0]["numberRecordsProcessed"] == 10_001
    assert _remaining(sf)[:2] == (14997, 10000)  # 10,001 records: two more
    with sandbox.http() as http:  # a query job (simple-salesforce would poll it for 5 s)
        job = http.post(
            f"{sandbox.instance_url}/services/data/v66.0/jobs/query",
            json={"operation": "query", "query": "SELECT Name FROM Account WHERE Name = 'One'"},
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        ).json()
        rows = http.get(
            f"{sandbox.instance_url}/services/data/v66.0/jobs/query/{job['id']}/results",
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        )
    assert rows.text.splitlines() == ['"Name"', '"One"']
    assert _remaining(sf)[:2] == (14997, 9999)
    assert sandbox.requests()["bulk_v2_query_jobs"] == 1
    sandbox.reset()
    assert _remaining(sf)[:2] == (15000, 10000)


def test_bulk_allocations_roll_over_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    hour = [5000]
    monkeypatch.setattr(limits, "_hour", lambda: hour[0])
    usage = limits.ApiUsage(daily_limit=100)
    usage.count_bulk_batches(limits.ingest_batches(25_000))
    usage.count_bulk_batches(1)  # a Bulk API 1.0 batch
    usage.count_bulk_v2_query_job()
    hour[0] += 12
    usage.count_bulk_v2_query_job()
    assert usage.limits()["DailyBulkApiBatches"] == {"Max": 15000, "Remaining": 14996}
    assert usage.limits()["DailyBulkV2QueryJobs"] == {"Max": 10000, "Remaining": 9998}
    hour[0] += 12  # the first hour is now 24 hours old
    assert usage.limits()["DailyBulkApiBatches"]["Remaining"] == 15000
    assert usage.limits()["DailyBulkV2QueryJobs"]["Remaining"] == 9999
    assert [limits.ingest_batches(n) for n in (0, 1, 10_000, 10_001, 20_000, 20_001)] == [
        0,
        1,
        1,
        2,
        2,
        3,
    ]


TOOLING = "/services/data/v66.0/tooling"


def test_tooling_objects_describe_and_query(sandbox: SandboxServer) -> None:
    listed = _get(sandbox, f"{TOOLING}/sobjects").json()["sobjects"]
    names = {o["name"] for o in listed}
    assert {"CustomObject", "CustomField", "InstalledSubscriberPackage"} <= names
    assert "SourceMember" not in names  # an org without source tracking
    custom_field = next(o for o in listed if o["name"] == "CustomField")
    assert custom_field["urls"]["describe"] == f"{TOOLING}/sobjects/CustomField/describe"
    described = _get(sandbox, f"{TOOLING}/sobjects/CustomField/describe").json()
    assert {"Id", "DeveloperName", "TableEnumOrId"} <= {f["name"] for f in described["fields"]}

    found = _get(
        sandbox,
        f"{TOOLING}/query",
        q="SELECT Id, DeveloperName, TableEnumOrId FROM CustomField"
        " WHERE TableEnumOrId = 'Account' ORDER BY DeveloperName",
    ).json()
    assert found["entityTypeName"] == "CustomField" and found["done"] is True
    assert found["size"] == found["totalSize"] == len(found["records"])
    first = found["records"][0]
    assert first["Id"].startswith("00N")
    assert first["attributes"] == {
        "type": "CustomField",
        "url": f"{TOOLING}/sobjects/CustomField/{first['Id']}",
    }
    assert "Stripe_Customer_Id" in [r["DeveloperName"] for r in found["records"]]
    again = _get(sandbox, f"{TOOLING}/query", q="SELECT Id FROM CustomField").json()
    assert first["Id"] in {r["Id"] for r in again["records"]}  # stable ids
    one = _get(sandbox, f"{TOOLING}/sobjects/CustomField/{first['Id']}").json()
    assert one["DeveloperName"] == first["DeveloperName"]

    objects = _get(sandbox, f"{TOOLING}/query", q="SELECT Id, DeveloperName FROM CustomObject")
    (payment,) = objects.json()["records"]
    assert payment["DeveloperName"] == "Stripe_Payment" and payment["Id"].startswith("01I")
    fields_of_payment = _get(
        sandbox,
        f"{TOOLING}/query",
        q=f"SELECT COUNT() FROM CustomField WHERE TableEnumOrId = '{payment['Id']}'",
    ).json()
    assert fields_of_payment["totalSize"] > 0
    columns = _get(
        sandbox, f"{TOOLING}/query", q="SELECT DeveloperName FROM CustomObject", columns="true"
    ).json()
    assert [c["columnName"] for c in columns["columnMetadata"]] == ["DeveloperName"]
    installed = _get(
        sandbox,
        f"{TOOLING}/query",
        q="SELECT Id, SubscriberPackage.Name, SubscriberPackageVersion.MajorVersion"
        " FROM InstalledSubscriberPackage ORDER BY SubscriberPackageId",
    ).json()
    assert installed["totalSize"] == 0 and installed["records"] == []


def test_tooling_answers_like_an_org_without_source_tracking(sandbox: SandboxServer) -> None:
    describe = _get(sandbox, f"{TOOLING}/sobjects/SourceMember/describe")
    assert describe.status_code == 404
    assert describe.json() == [
        {
            "message": "The requested resource does not exist",
            "errorCode": "NOT_FOUND",
            "fields": [],
        }
    ]
    query = _get(sandbox, f"{TOOLING}/query", q="SELECT Id, RevisionCounter FROM SourceMember")
    assert query.status_code == 400
    assert query.json()[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'SourceMember' is not supported" in query.json()[0]["message"]
    assert _get(sandbox, f"{TOOLING}/sobjects/ApexClass").status_code == 404
    assert _get(sandbox, f"{TOOLING}/executeAnonymous").status_code == 404


def test_record_counts(sandbox: SandboxServer, sf: Salesforce) -> None:
    sf.Account.create({"Name": "Counted"})
    sf.Account.create({"Name": "Counted too"})
    counts = _get(
        sandbox, "/services/data/v66.0/limits/recordCount", sObjects="Account,Nope,Contact"
    ).json()
    assert counts == {
        "sObjects": [{"count": 2, "name": "Account"}, {"count": 0, "name": "Contact"}]
    }
    everything = _get(sandbox, "/services/data/v66.0/limits/recordCount").json()["sObjects"]
    assert {"count": 2, "name": "Account"} in everything
