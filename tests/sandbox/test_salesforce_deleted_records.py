"""Records in the recycle bin, answered as Salesforce answers them: deleting an Account takes its
Contacts with it; an update by Id or a lookup naming a deleted record is ENTITY_IS_DELETED."""

from __future__ import annotations

from simple_salesforce import Salesforce

from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def test_deleting_an_account_deletes_its_contacts(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Gone Inc"})["id"]
    other = sf.Account.create({"Name": "Stays Inc"})["id"]
    mine = sf.Contact.create({"LastName": "Mine", "AccountId": account})["id"]
    theirs = sf.Contact.create({"LastName": "Theirs", "AccountId": other})["id"]
    sf.Account.delete(account)
    assert [r["Id"] for r in sf.query_all("SELECT Id FROM Contact")["records"]] == [theirs]
    binned = sf.query_all("SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", True)
    assert [(r["Id"], r["IsDeleted"]) for r in binned["records"]] == [(mine, True)]


def test_an_update_by_id_or_a_lookup_of_a_deleted_record_is_entity_is_deleted(
    sf: Salesforce,
) -> None:
    account = sf.Account.create({"Name": "Gone Inc"})["id"]
    contact = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Account.delete(account)
    sf.Contact.delete(contact)
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Account"}, "Id": account, "Name": "Back"}],
        },
    )
    assert updated[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    payment = {"attributes": {"type": "Stripe_Payment__c"}, "Stripe_Charge_Id__c": "ch_gone"}
    written = sf.restful(
        "composite/sobjects/Stripe_Payment__c/Stripe_Charge_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {**payment, "Account__c": account},
                {**payment, "Stripe_Charge_Id__c": "ch_gone2", "Contact__c": contact},
            ],
        },
    )
    assert [r["errors"][0]["statusCode"] for r in written] == ["ENTITY_IS_DELETED"] * 2
    assert written[0]["errors"][0]["fields"] == ["Account__c"]
