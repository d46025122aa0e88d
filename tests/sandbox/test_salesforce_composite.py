"""Composite, graph, batch and sObject Collections through simple-salesforce's restful()."""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def _post(sf: Salesforce, path: str, body: dict[str, Any]) -> Any:
    return sf.restful(path, method="POST", json=body)


def test_composite_with_references(sandbox: SandboxServer, sf: Salesforce) -> None:
    result = _post(
        sf,
        "composite",
        {
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": "/services/data/v59.0/sobjects/Account/Stripe_Customer_Id__c/cus_7",
                    "referenceId": "acct",
                    "body": {"Name": "Seven"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Contact",
                    "referenceId": "contact",
                    "body": {"LastName": "Doe", "AccountId": "@{acct.id}"},
                },
                {
                    "method": "GET",
                    "url": "/services/data/v59.0/query/?q=SELECT+Id,AccountId+FROM+Contact+"
                    "WHERE+AccountId='@{acct.id}'",
                    "referenceId": "found",
                },
                {
                    "method": "PATCH",
                    "url": "/services/data/v59.0/sobjects/Contact/@{found.records[0].Id}",
                    "referenceId": "touch",
                    "body": {"FirstName": "Jane"},
                },
            ],
        },
    )
    responses = result["compositeResponse"]
    assert [r["httpStatusCode"] for r in responses] == [201, 201, 200, 204]
    assert responses[0]["body"]["created"] is True
    account_id = responses[0]["body"]["id"]
    assert responses[2]["body"]["records"][0]["AccountId"] == account_id
    assert responses[3]["body"] is None
    # the whole composite request is one API call
    assert sandbox.requests()["by_endpoint"] == {"POST /composite": 1}
    assert sf.Contact.get(responses[1]["body"]["id"])["FirstName"] == "Jane"


def test_composite_all_or_none_rolls_back(sf: Salesforce) -> None:
    result = _post(
        sf,
        "composite",
        {
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Account",
                    "referenceId": "good",
                    "body": {"Name": "Rolled back"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Contact",
                    "referenceId": "bad",
                    "body": {"FirstName": "No last name", "AccountId": "@{good.id}"},
                },
            ],
        },
    )
    good, bad = result["compositeResponse"]
    assert bad["httpStatusCode"] == 400
    assert bad["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert good["httpStatusCode"] == 400
    assert good["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_composite_without_all_or_none_halts_dependants_only(sf: Salesforce) -> None:
    result = _post(
        sf,
        "composite",
        {
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Contact",
                    "referenceId": "bad",
                    "body": {"FirstName": "x"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Task",
                    "referenceId": "dependant",
                    "body": {"Subject": "s", "WhoId": "@{bad.id}"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Account",
                    "referenceId": "independent",
                    "body": {"Name": "Kept"},
                },
            ]
        },
    )
    codes = [r["httpStatusCode"] for r in result["compositeResponse"]]
    assert codes == [400, 400, 201]
    assert result["compositeResponse"][1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_collections_create_update_retrieve_delete(sandbox: SandboxServer, sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"C{i}"} for i in range(200)]
    created = _post(sf, "composite/sobjects", {"allOrNone": False, "records": records})
    assert len(created) == 200 and all(r["success"] for r in created)
    ids = [r["id"] for r in created]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "id": ids[0], "Billing_Status__c": "Current"},
                {"attributes": {"type": "Account"}, "id": ids[1], "Billing_Status__c": "Bogus"},
            ]
        },
    )
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["success"] is False
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    fetched = sf.restful(
        f"composite/sobjects/Account?ids={ids[0]},001000000000999AAA&fields=Id,Billing_Status__c"
    )
    assert fetched[0]["Billing_Status__c"] == "Current" and fetched[1] is None
    posted = _post(sf, "composite/sobjects/Account", {"ids": ids[:2], "fields": ["Name"]})
    assert [r["Name"] for r in posted] == ["C0", "C1"]
    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": ",".join(ids[:3]), "allOrNone": "false"},
    )
    assert all(r["success"] for r in deleted)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 197
    too_many = [*records, {"attributes": {"type": "Account"}, "Name": "201"}]
    response = sf.session.post(
        sf.base_url + "composite/sobjects", json={"records": too_many}, headers=sf.headers
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collection_upsert_by_external_id(sf: Salesforce) -> None:
    sf.Account.create({"Name": "Existing", "Stripe_Customer_Id__c": "cus_a"})
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_a", "Name": "A2"},
            {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_b", "Name": "B"},
            {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_c"},
        ],
    }
    results = sf.restful(
        "composite/sobjects/Account/Stripe_Customer_Id__c", method="PATCH", json=body
    )
    assert [r.get("created") for r in results] == [False, True, None]
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    again = sf.restful(
        "composite/sobjects/Account/Stripe_Customer_Id__c", method="PATCH", json=body
    )
    assert [r.get("created") for r in again[:2]] == [False, False]
    names = sf.query("SELECT Name FROM Account ORDER BY Name")["records"]
    assert [n["Name"] for n in names] == ["A2", "B"]


def test_collection_all_or_none_rollback(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects/Account/Stripe_Customer_Id__c",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_x", "Name": "X"},
                {
                    "attributes": {"type": "Account"},
                    "Stripe_Customer_Id__c": "cus_y",
                    "Subscription_Status__c": "Nope",
                    "Name": "Y",
                },
            ],
        },
    )
    assert results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    created = _post(
        sf,
        "composite/sobjects",
        {
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "ok"},
                {"attributes": {"type": "Contact"}, "FirstName": "missing last name"},
            ],
        },
    )
    assert created[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_graph_and_batch(sf: Salesforce) -> None:
    graph = _post(
        sf,
        "composite/graph",
        {
            "graphs": [
                {
                    "graphId": "ok",
                    "compositeRequest": [
                        {
                            "method": "POST",
                            "url": "/services/data/v59.0/sobjects/Account",
                            "referenceId": "a",
                            "body": {"Name": "Graph A"},
                        },
                        {
                            "method": "POST",
                            "url": "/services/data/v59.0/sobjects/Contact",
                            "referenceId": "c",
                            "body": {"LastName": "G", "AccountId": "@{a.id}"},
                        },
                    ],
                },
                {
                    "graphId": "broken",
                    "compositeRequest": [
                        {
                            "method": "POST",
                            "url": "/services/data/v59.0/sobjects/Account",
                            "referenceId": "a",
                            "body": {"Name": "Graph B"},
                        },
                        {
                            "method": "POST",
                            "url": "/services/data/v59.0/sobjects/Contact",
                            "referenceId": "c",
                            "body": {"AccountId": "@{a.id}"},
                        },
                    ],
                },
            ]
        },
    )
    first, second = graph["graphs"]
    assert first["isSuccessful"] is True and second["isSuccessful"] is False
    assert [r["httpStatusCode"] for r in first["graphResponse"]["compositeResponse"]] == [201, 201]
    names = [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]]
    assert names == ["Graph A"]
    account_id = first["graphResponse"]["compositeResponse"][0]["body"]["id"]

    batch = _post(
        sf,
        "composite/batch",
        {
            "haltOnError": True,
            "batchRequests": [
                {
                    "method": "PATCH",
                    "url": f"v59.0/sobjects/Account/{account_id}",
                    "richInput": {"Name": "Renamed"},
                },
                {"method": "GET", "url": f"v59.0/sobjects/Account/{account_id}?fields=Name"},
                {"method": "GET", "url": "v59.0/sobjects/Account/001000000000999AAA"},
                {"method": "GET", "url": "v59.0/limits"},
            ],
        },
    )
    assert batch["hasErrors"] is True
    codes = [r["statusCode"] for r in batch["results"]]
    assert codes == [204, 200, 404, 412]
    assert batch["results"][1]["result"]["Name"] == "Renamed"
