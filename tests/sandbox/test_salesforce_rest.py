"""REST API with the real simple-salesforce: CRUD, upsert, queries and paging, describe,
limits and api_usage, and the error codes."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def test_crud_and_system_fields(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme", "Subscription_Status__c": "Active"})
    account_id = created["id"]
    assert created == {"id": account_id, "success": True, "errors": []}
    assert len(account_id) == 18 and account_id.startswith("001")

    record = sf.Account.get(account_id)
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{account_id}",
    }
    assert record["Name"] == "Acme"
    assert record["OwnerId"] == "005000000000001AAA"
    assert record["CreatedDate"].endswith("+0000") and len(record["CreatedDate"]) == 28
    assert record["Billing_Status__c"] is None
    assert sf.Account.get(account_id[:15])["Id"] == account_id

    assert sf.Account.update(account_id, {"Billing_Status__c": "At Risk"}) == 204
    updated = sf.Account.get(account_id, params={"fields": "Id,Billing_Status__c,LastModifiedDate"})
    assert list(updated)[1:] == ["Id", "Billing_Status__c", "LastModifiedDate"]
    assert updated["Billing_Status__c"] == "At Risk"
    assert updated["LastModifiedDate"] >= record["LastModifiedDate"]

    contact = sf.Contact.create(
        {"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account_id}
    )
    got = sf.Contact.get(contact["id"])
    assert got["Name"] == "Ada Lovelace"

    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get(account_id)
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as again:
        sf.Account.delete(account_id)
    assert again.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert sf.query_all("SELECT Id FROM Account")["totalSize"] == 0
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True


def test_upsert_twice_created_then_updated(sf: Salesforce) -> None:
    first = sf.Account.upsert("Stripe_Customer_Id__c/cus_1", {"Name": "Acme"}, raw_response=True)
    assert first.status_code == 201
    body = first.json()
    assert body["created"] is True and body["success"] is True
    second = sf.Account.upsert("Stripe_Customer_Id__c/cus_1", {"Name": "Acme Inc"})
    assert second == 200
    records = sf.query("SELECT Id, Name, Stripe_Customer_Id__c FROM Account")["records"]
    assert len(records) == 1
    assert records[0]["Id"] == body["id"] and records[0]["Name"] == "Acme Inc"
    by_ext = sf.Account.get_by_custom_id("Stripe_Customer_Id__c", "CUS_1")  # case-insensitive
    assert by_ext["Id"] == body["id"]
    # ids with reserved characters go through percent-encoding
    path = "Stripe_Customer_Id__c/" + quote("a+b/c%41", safe="")
    assert sf.Account.upsert(path, {"Name": "Slash"}) == 201
    found = sf.query("SELECT Stripe_Customer_Id__c FROM Account WHERE Name = 'Slash'")
    assert found["records"][0]["Stripe_Customer_Id__c"] == "a+b/c%41"
    assert sf.Account.get_by_custom_id("Stripe_Customer_Id__c", "a+b/c%41")["Name"] == "Slash"


def test_upsert_with_several_matches_is_300(sf: Salesforce) -> None:
    sf.Contact.create({"LastName": "One", "Legacy_Id__c": "L1"})
    sf.Contact.create({"LastName": "Two", "Legacy_Id__c": "L1"})
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Contact.upsert("Legacy_Id__c/L1", {"FirstName": "X"})
    assert caught.value.status == 300
    assert all(
        url.startswith("/services/data/v59.0/sobjects/Contact/") for url in caught.value.content
    )


def test_upsert_on_a_field_that_is_not_an_external_id(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.upsert("Name/Acme", {"Phone": "1"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Nope__c/x", {"Phone": "1"})


def _error(exc: pytest.ExceptionInfo[SalesforceMalformedRequest]) -> dict[str, object]:
    content = exc.value.content
    assert isinstance(content, list) and len(content) == 1
    return dict(content[0])


def test_validation_errors_carry_salesforce_codes(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Contact.create({"FirstName": "No last name"})
    assert _error(missing) == {
        "message": "Required fields are missing: [LastName]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName"],
    }
    with pytest.raises(SalesforceMalformedRequest) as picklist:
        sf.Account.create({"Name": "A", "Subscription_Status__c": "Bogus"})
    error = _error(picklist)
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error["message"] == "Subscription Status: bad value for restricted picklist field: Bogus"
    sf.Account.create({"Name": "A", "Stripe_Customer_Id__c": "cus_dup"})
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.Account.create({"Name": "B", "Stripe_Customer_Id__c": "CUS_DUP"})
    error = _error(duplicate)
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert str(error["message"]).startswith(
        "duplicate value found: Stripe_Customer_Id__c duplicates value on record with id: 001"
    )
    with pytest.raises(SalesforceMalformedRequest) as too_long:
        sf.Contact.create({"LastName": "x" * 81})
    error = _error(too_long)
    assert error["errorCode"] == "STRING_TOO_LONG"
    assert str(error["message"]).endswith("(max length=80)")
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Account.create({"Name": "A", "Foo__c": 1})
    assert _error(unknown)["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as readonly:
        sf.Account.create({"Name": "A", "CreatedDate": "2024-01-01T00:00:00Z"})
    assert _error(readonly)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as bad_ref:
        sf.Contact.create({"LastName": "L", "AccountId": "001000000000999AAA"})
    assert _error(bad_ref)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceMalformedRequest) as bad_email:
        sf.Contact.create({"LastName": "L", "Email": "not-an-email"})
    assert _error(bad_email)["errorCode"] == "INVALID_EMAIL_ADDRESS"
    with pytest.raises(SalesforceResourceNotFound) as no_object:
        sf.Nope__c.create({"Name": "x"})
    assert no_object.value.content[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound) as no_record:
        sf.Account.get("001000000000999AAA")
    assert no_record.value.content[0]["errorCode"] == "NOT_FOUND"


def test_custom_object_types_and_lookups(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Payer", "Stripe_Customer_Id__c": "cus_9"})["id"]
    payment = sf.Stripe_Payment__c.create(
        {
            "Stripe_Charge_Id__c": "ch_1",
            "Amount__c": 12.5,
            "Currency__c": "usd",
            "Paid_At__c": "2024-05-01T10:00:00+02:00",
            "Paid_On__c": "2024-05-01",
            "Refunded__c": False,
            "Fee_Percent__c": 2.9,
            "Attempt__c": 1,
            "Account__r": {"Stripe_Customer_Id__c": "cus_9"},
        }
    )
    record = sf.Stripe_Payment__c.get(payment["id"])
    assert payment["id"].startswith("a0")
    assert record["Name"] == "PAY-00001"
    assert record["Account__c"] == account
    assert record["Paid_At__c"] == "2024-05-01T08:00:00.000+0000"
    assert record["Amount__c"] == 12.5 and record["Refunded__c"] is False
    with pytest.raises(SalesforceMalformedRequest) as range_error:
        sf.Stripe_Payment__c.create({"Stripe_Charge_Id__c": "ch_2", "Attempt__c": 1000})
    assert _error(range_error)["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    with pytest.raises(SalesforceMalformedRequest) as required:
        sf.Stripe_Payment__c.create({"Amount__c": 1})
    assert _error(required)["errorCode"] == "REQUIRED_FIELD_MISSING"
    rows = sf.query(
        "SELECT Name, Account__r.Name, Account__r.OwnerId FROM Stripe_Payment__c "
        "WHERE Account__r.Stripe_Customer_Id__c = 'cus_9'"
    )["records"]
    assert rows[0]["Account__r"]["Name"] == "Payer"
    assert rows[0]["Account__r"]["OwnerId"] == "005000000000001AAA"
    child = sf.query(
        "SELECT Name, (SELECT Stripe_Charge_Id__c FROM Stripe_Payments__r) FROM Account"
    )["records"][0]
    assert child["Stripe_Payments__r"]["records"][0]["Stripe_Charge_Id__c"] == "ch_1"


def test_queries_filters_order_and_relationships(sf: Salesforce) -> None:
    acme = sf.Account.create({"Name": "Acme", "NumberOfEmployees": 50})["id"]
    sf.Account.create({"Name": "Globex", "NumberOfEmployees": 5, "Industry": "Retail"})
    sf.Account.create({"Name": "Initech"})
    sf.Contact.create({"LastName": "Smith", "Email": "s@acme.test", "AccountId": acme})
    sf.Contact.create({"LastName": "Nobody"})

    def names(soql: str) -> list[str]:
        return [r["Name"] for r in sf.query_all(soql)["records"]]

    assert names("SELECT Name FROM Account ORDER BY Name DESC") == ["Initech", "Globex", "Acme"]
    assert names("select name from account where name like 'g%'") == ["Globex"]
    assert names("SELECT Name FROM Account WHERE NumberOfEmployees > 10") == ["Acme"]
    assert names("SELECT Name FROM Account WHERE NumberOfEmployees = null") == ["Initech"]
    assert names("SELECT Name FROM Account WHERE Industry != 'Retail' ORDER BY Name") == [
        "Acme",
        "Initech",
    ]
    assert names(
        "SELECT Name FROM Account WHERE Name IN ('acme', 'Initech') AND NOT Name = 'Initech'"
    ) == ["Acme"]
    assert names(
        "SELECT Name FROM Account WHERE (Name = 'Acme' OR Name = 'Globex') "
        "ORDER BY Name LIMIT 1 OFFSET 1"
    ) == ["Globex"]
    assert names("SELECT Name FROM Account WHERE CreatedDate = TODAY ORDER BY Name") == [
        "Acme",
        "Globex",
        "Initech",
    ]
    assert names("SELECT Name FROM Account WHERE CreatedDate < LAST_N_DAYS:30") == []
    assert names("SELECT Name FROM Account WHERE CreatedDate > 2020-01-01T00:00:00Z LIMIT 1") == [
        "Acme"
    ]
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 2
    contacts = sf.query(
        "SELECT Id, Email, Account.Name, Account.OwnerId, Account.Owner.Name FROM Contact "
        "ORDER BY LastName"
    )["records"]
    assert contacts[0]["Account"] is None
    assert contacts[1]["Account"]["Name"] == "Acme"
    assert contacts[1]["Account"]["Owner"]["Name"] == "Admin User"
    assert list(contacts[1]) == ["attributes", "Id", "Email", "Account"]
    grouped = sf.query("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry")["records"]
    assert {(g["Industry"], g["expr0"]) for g in grouped} == {(None, 2), ("Retail", 1)}
    assert sf.is_sandbox() is False


def test_query_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as field:
        sf.query("SELECT Foo__c FROM Account")
    error = _error(field)
    assert error["errorCode"] == "INVALID_FIELD"
    assert "ERROR at Row:1:Column:8" in str(error["message"])
    assert "No such column 'Foo__c' on entity 'Account'" in str(error["message"])
    with pytest.raises(SalesforceMalformedRequest) as kind:
        sf.query("SELECT Id FROM Nope__c")
    assert _error(kind)["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FORM Account")
    assert _error(malformed)["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as locator:
        sf.query_more("01gNOPE-2000")
    assert _error(locator)["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_over_several_pages(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.seed([{"Name": f"Bulk {i:03d}"} for i in range(450)], sobject="Account")
    first = sf.query(
        "SELECT Id, Name FROM Account ORDER BY Name",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    assert first["totalSize"] == 450 and first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    everything = sf.query_all(
        "SELECT Id, Name FROM Account ORDER BY Name",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    names = [r["Name"] for r in everything["records"]]
    assert names == [f"Bulk {i:03d}" for i in range(450)]
    counts = sandbox.requests()["by_endpoint"]
    assert counts["GET /query/{locator}"] == 2


def test_describe_limits_and_api_usage(sandbox: SandboxServer, sf: Salesforce) -> None:
    described = sf.Account.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Stripe_Customer_Id__c"]["externalId"] is True
    assert fields["Stripe_Customer_Id__c"]["unique"] is True
    status = fields["Subscription_Status__c"]
    assert status["restrictedPicklist"] is True
    assert [p["value"] for p in status["picklistValues"]][:3] == ["Active", "Trialing", "Past Due"]
    assert {"childSObject": "Contact", "field": "AccountId"}.items() <= {
        k: v for k, v in described["childRelationships"][0].items()
    }.items() or any(r["childSObject"] == "Contact" for r in described["childRelationships"])
    names = [o["name"] for o in sf.describe()["sobjects"]]
    assert {"Account", "Contact", "Case", "Task", "User", "Group", "Opportunity"} <= set(names)
    assert "Stripe_Payment__c" in names
    assert sf.Task.describe()["fields"] and any(
        f["name"] == "Stripe_Dedupe_Key__c" for f in sf.Task.describe()["fields"]
    )

    limits = sf.limits()
    usage = sf.api_usage["api-usage"]
    assert usage.total == 100000
    assert limits["DailyApiRequests"]["Max"] == 100000
    assert limits["DailyApiRequests"]["Remaining"] == 100000 - usage.used
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == usage.used + 1


def test_request_limit_exceeded(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.set_limits(daily_limit=5, used=4)
    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 403
    assert caught.value.content == [
        {
            "message": "TotalRequests Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
            "fields": [],
        }
    ]
    assert sf.api_usage["api-usage"].used == 5


def test_queues_users_and_task_owner(sf: Salesforce) -> None:
    queue = sf.query("SELECT Id, Name FROM Group WHERE Type = 'Queue'")["records"][0]
    account = sf.Account.create({"Name": "Late payer"})["id"]
    task = sf.Task.create(
        {
            "Subject": "Payment failed",
            "Priority": "High",
            "WhatId": account,
            "OwnerId": queue["Id"],
            "ActivityDate": "2024-06-01",
            "Stripe_Dedupe_Key__c": "in_1:1",
        }
    )
    record = sf.Task.get(task["id"])
    assert record["Status"] == "Not Started" and record["OwnerId"] == queue["Id"]
    assert record["IsClosed"] is False
    open_tasks = sf.query("SELECT Id FROM Task WHERE IsClosed = false")["records"]
    assert [t["Id"] for t in open_tasks] == [task["id"]]
    sf.Task.update(task["id"], {"Status": "Completed"})
    assert sf.query("SELECT COUNT() FROM Task WHERE IsClosed = true")["totalSize"] == 1
    case = sf.Case.upsert(
        "Stripe_Dedupe_Key__c/in_1:2", {"Subject": "Dunning", "AccountId": account}
    )
    assert case == 201
    got = sf.query("SELECT CaseNumber, Status, Priority, Owner.Name FROM Case")["records"][0]
    assert got["CaseNumber"] == "00000001" and got["Priority"] == "Medium"
    assert got["Owner"]["Name"] == "Admin User"
    owners = sf.query("SELECT What.Name, Owner.Name FROM Task")["records"][0]
    assert owners["What"]["Name"] == "Late payer"
    assert owners["Owner"]["Name"] == "Billing Queue"


def test_task_on_a_custom_object_and_query_all_locators(sf: Salesforce) -> None:
    payment = sf.Stripe_Payment__c.create({"Stripe_Charge_Id__c": "ch_t"})["id"]
    task = sf.Task.create({"Subject": "Refund check", "WhatId": payment})["id"]
    row = sf.query(f"SELECT What.Name FROM Task WHERE Id = '{task}'")["records"][0]
    assert row["What"]["attributes"]["type"] == "Stripe_Payment__c"
    assert row["What"]["Name"].startswith("PAY-")
    result = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Nope__c"}, "Name": "x"}]},
    )
    assert result is not None
    assert result[0]["success"] is False
    assert result[0]["errors"][0]["statusCode"] == "INVALID_TYPE"


def test_query_all_pages_through_locators_of_any_version(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    ids = sandbox.seed([{"Name": f"D{i:03d}"} for i in range(250)], sobject="Account")
    sf.Account.delete(ids[0])
    first = sf.query_all(
        "SELECT Id FROM Account",
        include_deleted=True,
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    assert first["totalSize"] == 250
    page = sf.query(
        "SELECT Name FROM Account ORDER BY Name", headers={"Sforce-Query-Options": "batchSize=200"}
    )
    locator = page["nextRecordsUrl"].rsplit("/", 1)[1]
    # jsforce rebuilds the URL with its own version and /query/ even for queryAll
    rest = sf.session.get(
        f"{sandbox.instance_url}/services/data/v50.0/query/{locator}", headers=sf.headers
    ).json()
    assert rest["done"] is True and len(rest["records"]) == 49


def test_opportunity_user_and_group_objects(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Buyer"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Opportunity.create({"Name": "Deal", "AccountId": account})
    assert set(caught.value.content[0]["fields"]) == {"StageName", "CloseDate"}
    deal = sf.Opportunity.create(
        {
            "Name": "Deal",
            "AccountId": account,
            "StageName": "Prospecting",
            "CloseDate": "2024-12-31",
            "Amount": 1200.5,
        }
    )["id"]
    assert deal.startswith("006")
    row = sf.query(
        "SELECT Amount, Account.Name FROM Opportunity WHERE CloseDate >= 2024-12-01 "
        "AND CloseDate < 2025-01-01"
    )["records"][0]
    assert row["Amount"] == 1200.5 and row["Account"]["Name"] == "Buyer"
    users = sf.query("SELECT Username, Name, IsActive FROM User ORDER BY Username")["records"]
    assert [u["Username"] for u in users] == [
        "admin@sandbox.example.com",
        "integration@sandbox.example.com",
    ]
    assert users[0]["IsActive"] is True
    with pytest.raises(SalesforceMalformedRequest) as queue_owner:
        queue = sf.query("SELECT Id FROM Group WHERE DeveloperName = 'Billing_Queue'")
        sf.Account.update(account, {"OwnerId": queue["records"][0]["Id"]})
    assert queue_owner.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
