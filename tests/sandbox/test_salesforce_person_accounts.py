"""Person Accounts in the Salesforce sandbox (the "person-accounts" org feature): the schema and
record types, the hidden person contact and its mirroring, the errors Salesforce answers, the
feature switched on and off through the control plane and kept across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_sandbox.models.permissions import FieldAccess, Grants, visible_schema
from salesforce_sandbox.schema import person_accounts
from salesforce_sandbox.schema.model import Schema
from salesforce_sandbox.schema.objects import standard_objects
from salesforce_sandbox.schema.permission_set import ObjectGrant
from salesforce_sandbox.schema.person_accounts import (
    BUSINESS_RECORD_TYPE_ID,
    PERSON_RECORD_TYPE_ID,
)
from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox.salesforce_fixtures import SFDX_EXAMPLE

FEATURE = "person-accounts"


@pytest.fixture(scope="module")
def person_server() -> Iterator[SandboxServer]:
    with run_sandbox(metadata=[SFDX_EXAMPLE], features=[FEATURE]) as server:
        yield server


@pytest.fixture
def sandbox(person_server: SandboxServer) -> SandboxServer:
    person_server.reset()
    return person_server


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return sandbox.salesforce()


def _person(sf: Salesforce, **fields: Any) -> dict[str, Any]:
    created = sf.Account.create({"RecordTypeId": PERSON_RECORD_TYPE_ID, **fields})
    return dict(sf.Account.get(created["id"]))


def _error(call: Any, *args: Any) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        call(*args)
    return dict(caught.value.content[0])


def test_person_account_is_an_account_and_a_contact(sf: Salesforce) -> None:
    kinds = sf.query(
        "SELECT Id, Name, DeveloperName, IsPersonType FROM RecordType "
        "WHERE SobjectType = 'Account' ORDER BY DeveloperName"
    )["records"]
    assert [(r["DeveloperName"], r["IsPersonType"]) for r in kinds] == [
        ("Business_Account", False),
        ("PersonAccount", True),
    ]
    account = _person(
        sf,
        FirstName="Ada",
        LastName="Lovelace",
        PersonEmail="ada@example.com",
        PersonMailingCity="London",
        Phone="+44 20 7946 0000",
        Stripe_Customer_Id__c="cus_A",
        Stripe_Customer_Id__pc="cus_A",
    )
    assert account["Name"] == "Ada Lovelace"
    assert account["IsPersonAccount"] is True and account["RecordTypeId"] == PERSON_RECORD_TYPE_ID
    contact_id = account["PersonContactId"]
    assert contact_id.startswith("003")
    [contact] = sf.query(
        "SELECT Id, Name, FirstName, LastName, Email, MailingCity, Phone, AccountId, OwnerId, "
        "IsPersonAccount, Stripe_Customer_Id__c FROM Contact"
    )["records"]
    assert contact["Id"] == contact_id and contact["IsPersonAccount"] is True
    assert contact["AccountId"] == account["Id"] and contact["OwnerId"] == account["OwnerId"]
    assert (contact["Name"], contact["Email"], contact["MailingCity"], contact["Phone"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "London",
        "+44 20 7946 0000",
    )
    assert contact["Stripe_Customer_Id__c"] == "cus_A"
    # the Account answers by its person fields, the Contact by its own
    found = sf.query(
        "SELECT Id, PersonContactId FROM Account WHERE PersonEmail = 'ADA@example.com' "
        "AND IsPersonAccount = true"
    )["records"]
    assert [r["Id"] for r in found] == [account["Id"]]
    by_key = sf.Contact.get_by_custom_id("Stripe_Customer_Id__c", "cus_A")
    assert by_key["Id"] == contact_id
    business = sf.Account.create({"Name": "Acme"})
    biz = sf.Account.get(business["id"])
    assert biz["IsPersonAccount"] is False and biz["RecordTypeId"] == BUSINESS_RECORD_TYPE_ID
    assert biz["PersonContactId"] is None and biz["LastName"] is None


def test_describe_shows_the_person_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    for name in ("IsPersonAccount", "PersonContactId"):
        assert fields[name]["createable"] is False and fields[name]["updateable"] is False
    assert fields["PersonEmail"]["type"] == "email" and fields["PersonEmail"]["createable"]
    assert fields["LastName"]["nillable"] is True  # required only of person accounts
    assert fields["RecordTypeId"]["referenceTo"] == ["RecordType"]
    twin = fields["Stripe_Customer_Id__pc"]
    assert twin["custom"] is True and twin["type"] == "string" and twin["length"] == 255
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["IsPersonAccount"]["type"] == "boolean"
    assert contact["IsPersonAccount"]["updateable"] is False


def test_salesforce_errors_of_person_and_business_accounts(sf: Salesforce) -> None:
    error = _error(
        sf.Account.create, {"RecordTypeId": PERSON_RECORD_TYPE_ID, "LastName": "X", "Name": "Y"}
    )
    assert error == {
        "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
        "message": "Account: bad field names on insert/update call: Name",
        "fields": ["Name"],
    }
    error = _error(sf.Account.create, {"RecordTypeId": PERSON_RECORD_TYPE_ID, "FirstName": "X"})
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING" and error["fields"] == ["LastName"]
    error = _error(
        sf.Account.create,
        {"Name": "Acme", "PersonEmail": "a@acme.test", "Stripe_Customer_Id__pc": "cus_B"},
    )
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["message"] == (
        "Account: bad field names on insert/update call: PersonEmail, Stripe_Customer_Id__pc"
    )
    error = _error(sf.Account.create, {"Name": "Acme", "RecordTypeId": "012000000000099AAA"})
    assert error["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert error["message"].startswith("Record Type ID: this ID value isn't valid for the user")
    account = _person(sf, LastName="Lovelace")
    error = _error(sf.Account.update, account["Id"], {"Name": "Countess"})
    assert error["message"] == "Account: bad field names on insert/update call: Name"
    business = sf.Account.create({"Name": "Acme"})["id"]
    error = _error(sf.Contact.update, account["PersonContactId"], {"AccountId": business})
    assert error["message"] == "Account: bad field names on insert/update call: AccountId"
    error = _error(sf.Contact.create, {"LastName": "Other", "AccountId": account["Id"]})
    assert error["errorCode"] == "INVALID_PERSON_ACCOUNT_OPERATION"
    error = _error(sf.Contact.delete, account["PersonContactId"])
    assert error["errorCode"] == "INVALID_PERSON_ACCOUNT_OPERATION"
    assert sf.query("SELECT count() FROM Contact")["totalSize"] == 1  # nothing written


def test_either_side_shows_on_the_other(sf: Salesforce) -> None:
    account = _person(sf, FirstName="Ada", LastName="Lovelace", PersonEmail="ada@example.com")
    contact_id = account["PersonContactId"]
    sf.Account.update(account["Id"], {"LastName": "King", "Stripe_Customer_Id__pc": "cus_A"})
    contact = sf.Contact.get(contact_id)
    assert (contact["Name"], contact["Stripe_Customer_Id__c"]) == ("Ada King", "cus_A")
    sf.Contact.update(contact_id, {"Email": "countess@example.com", "FirstName": "Augusta"})
    again = sf.Account.get(account["Id"])
    assert (again["PersonEmail"], again["Name"]) == ("countess@example.com", "Augusta King")
    # an upsert by the Account's key finds it and updates the person fields too
    sf.Account.update(account["Id"], {"Stripe_Customer_Id__c": "cus_A"})
    sf.Account.upsert(
        "Stripe_Customer_Id__c/cus_A", {"RecordTypeId": PERSON_RECORD_TYPE_ID, "LastName": "Byron"}
    )
    assert sf.Contact.get(contact_id)["LastName"] == "Byron"
    # a payment names the person contact by the Contact's external id
    sf.Stripe_Payment__c.create(
        {
            "Stripe_Charge_Id__c": "ch_1",
            "Account__r": {"Stripe_Customer_Id__c": "cus_A"},
            "Contact__r": {"Stripe_Customer_Id__c": "cus_A"},
        }
    )
    [payment] = sf.query("SELECT Account__c, Contact__c FROM Stripe_Payment__c")["records"]
    assert (payment["Account__c"], payment["Contact__c"]) == (account["Id"], contact_id)
    task = sf.Task.create({"Subject": "Call", "WhatId": account["Id"], "WhoId": contact_id})
    assert task["success"] is True
    sf.Account.delete(account["Id"])  # the person contact goes with its account
    assert sf.query("SELECT count() FROM Contact")["totalSize"] == 0


def test_a_refused_person_contact_leaves_no_account(sf: Salesforce) -> None:
    business = sf.Account.create({"Name": "Acme"})["id"]
    sf.Contact.create(
        {"LastName": "Taken", "AccountId": business, "Stripe_Customer_Id__c": "cus_T"}
    )
    error = _error(
        sf.Account.create,
        {"RecordTypeId": PERSON_RECORD_TYPE_ID, "LastName": "X", "Stripe_Customer_Id__pc": "cus_T"},
    )
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert sf.query("SELECT count() FROM Account")["totalSize"] == 1
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Account"},
                    "RecordTypeId": PERSON_RECORD_TYPE_ID,
                    "LastName": "Dup",
                    "Stripe_Customer_Id__pc": "cus_T",
                },
                {
                    "attributes": {"type": "Account"},
                    "RecordTypeId": PERSON_RECORD_TYPE_ID,
                    "LastName": "Fine",
                },
            ],
        },
    )
    assert results is not None
    assert [r["success"] for r in results] == [False, True]
    names = {r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]}
    assert names == {"Acme", "Fine"}
    assert sf.query("SELECT count() FROM Contact WHERE IsPersonAccount = true")["totalSize"] == 1


def test_changing_the_record_type_converts_the_account(sf: Salesforce) -> None:
    account = _person(sf, FirstName="Ada", LastName="Lovelace", PersonEmail="ada@example.com")
    error = _error(
        sf.Account.update, account["Id"], {"RecordTypeId": BUSINESS_RECORD_TYPE_ID, "Name": "A"}
    )
    assert error["message"] == (
        "Cannot specify any additional fields when marrying or separating a Person-Account"
    )
    sf.Account.update(account["Id"], {"RecordTypeId": BUSINESS_RECORD_TYPE_ID})
    business = sf.Account.get(account["Id"])
    assert business["IsPersonAccount"] is False and business["Name"] == "Ada Lovelace"
    assert business["PersonContactId"] is None and business["PersonEmail"] is None
    contact = sf.Contact.get(account["PersonContactId"])
    assert contact["IsPersonAccount"] is False and contact["Email"] == "ada@example.com"
    sf.Account.update(account["Id"], {"RecordTypeId": PERSON_RECORD_TYPE_ID})  # and back
    person = sf.Account.get(account["Id"])
    assert person["PersonContactId"] == contact["Id"] and person["PersonEmail"] == contact["Email"]
    sf.Contact.create({"LastName": "Second", "AccountId": sf.Account.create({"Name": "B"})["id"]})
    lone = sf.Account.create({"Name": "Empty"})["id"]
    error = _error(sf.Account.update, lone, {"RecordTypeId": PERSON_RECORD_TYPE_ID})
    assert error["errorCode"] == "INVALID_PERSON_ACCOUNT_OPERATION"


def test_person_fields_follow_contact_field_security() -> None:
    schema = Schema(standard_objects())
    person_accounts.apply(schema)
    may_edit_email = Grants(
        "005000000000009AAA",
        frozenset({"ApiEnabled"}),
        objects={},
        fields={"contact.email": FieldAccess(True, True)},
    )
    view = visible_schema(schema, may_edit_email)
    # without object permissions the user sees no object; the field rule is what is checked
    assert view.get("Account") is None
    grants = Grants(
        may_edit_email.user_id,
        may_edit_email.user_permissions,
        objects={"account": ObjectGrant("Account", True, True, True)},
        fields=may_edit_email.fields,
    )
    account = visible_schema(schema, grants).get("Account")
    assert account is not None
    email = account.field("PersonEmail")
    assert email is not None and email.updateable
    assert account.field("PersonMobilePhone") is None  # Contact.MobilePhone is not granted
    assert account.field("LastName") is not None  # a required Contact field: always visible


def test_feature_switched_through_the_control_plane_and_kept(tmp_path: Path) -> None:
    with run_sandbox(data_dir=tmp_path) as server:
        sf = server.salesforce()
        before = sf.Account.create({"Name": "Acme"})["id"]
        info = server.control_call("GET", "features")
        assert info["enabled"] == []
        assert FEATURE in {f["name"] for f in info["available"]}
        assert server.set_features(enable=[FEATURE]) == [FEATURE]
        existing = sf.Account.get(before)
        assert existing["IsPersonAccount"] is False
        assert existing["RecordTypeId"] == BUSINESS_RECORD_TYPE_ID
        person = sf.Account.create({"RecordTypeId": PERSON_RECORD_TYPE_ID, "LastName": "Ada"})
        with server.http() as http:
            refused = http.post(
                f"{server.control_url}/features", json={"disable": [FEATURE]}, timeout=10
            )
            unknown = http.post(
                f"{server.control_url}/features", json={"enable": ["no-such"]}, timeout=10
            )
        assert refused.status_code == 400 and "person account" in refused.text
        assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FEATURE"
        sf.Account.delete(person["id"])
    with run_sandbox(data_dir=tmp_path) as server:  # a restart keeps the feature
        assert server.features() == [FEATURE]
        sf = server.salesforce()
        assert sf.Account.get(before)["IsPersonAccount"] is False
        assert server.set_features(disable=[FEATURE]) == []
        fields = {f["name"] for f in sf.Account.describe()["fields"]}
        assert "PersonEmail" not in fields and "IsPersonAccount" not in fields
