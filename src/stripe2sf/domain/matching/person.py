"""A customer's person account, in an org with Person Accounts (pure).

A person account is one Account whose person fields are its hidden person contact's: what
stripe2sf maps to a Contact goes to the Account under the person field's name (``Email`` ->
``PersonEmail``, ``FirstName`` stays ``FirstName``, a custom ``X__c`` -> ``X__pc``), in the
same Account write. Salesforce refuses ``Name`` on a person account (it is "FirstName
LastName") and requires ``LastName``; the record type makes it a person account. The customer
id goes on the Account (``Stripe_Customer_Id__c``) and on its person contact
(``Stripe_Customer_Id__pc``), so the Contact lookups by customer id find the person contact
and a payment's Contact reference by customer id names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Contact field -> the person account field that shows it (Salesforce's standard names).
PERSON_FIELDS: Mapping[str, str] = {
    "FirstName": "FirstName",
    "LastName": "LastName",
    "Salutation": "Salutation",
    "MiddleName": "MiddleName",
    "Suffix": "Suffix",
    "Email": "PersonEmail",
    "Phone": "Phone",
    "MobilePhone": "PersonMobilePhone",
    "HomePhone": "PersonHomePhone",
    "OtherPhone": "PersonOtherPhone",
    "AssistantName": "PersonAssistantName",
    "AssistantPhone": "PersonAssistantPhone",
    "Title": "PersonTitle",
    "Department": "PersonDepartment",
    "Birthdate": "PersonBirthdate",
    "LeadSource": "PersonLeadSource",
    "HasOptedOutOfEmail": "PersonHasOptedOutOfEmail",
    "DoNotCall": "PersonDoNotCall",
    "MailingStreet": "PersonMailingStreet",
    "MailingCity": "PersonMailingCity",
    "MailingState": "PersonMailingState",
    "MailingPostalCode": "PersonMailingPostalCode",
    "MailingCountry": "PersonMailingCountry",
    "OtherStreet": "PersonOtherStreet",
    "OtherCity": "PersonOtherCity",
    "OtherState": "PersonOtherState",
    "OtherPostalCode": "PersonOtherPostalCode",
    "OtherCountry": "PersonOtherCountry",
}
# Account fields a person account refuses (Salesforce derives them).
NOT_ON_PERSON_ACCOUNTS = frozenset({"Name"})


def person_field(contact_field: str) -> str | None:
    """The Account field a person account shows a Contact field as (None: it has none)."""
    if contact_field in PERSON_FIELDS:
        return PERSON_FIELDS[contact_field]
    if contact_field.endswith("__c"):
        return contact_field.removesuffix("__c") + "__pc"
    return None


def person_account_values(
    account: Mapping[str, Any],
    contact: Mapping[str, Any],
    *,
    record_type_id: str | None,
    customer_field: str,
    customer_id: str,
    last_name: str,
    with_email: bool = True,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """One Account write that creates (or, upserted again, updates) a customer's person
    account from the fields planned for its Account and its Contact. `with_email` False
    leaves the email out (another customer has it: one email, one Contact)."""
    values = {k: v for k, v in account.items() if k not in NOT_ON_PERSON_ACCOUNTS}
    for name, value in contact.items():
        target = person_field(name)
        if target is None:
            if notes is not None and name != "AccountId":
                notes.append(f"Contact.{name} has no person account field; not written")
            continue
        if target == "PersonEmail" and not with_email:
            continue
        values[target] = value
    values.setdefault("LastName", last_name)
    if record_type_id:
        values["RecordTypeId"] = record_type_id
    twin = person_field(customer_field)  # the key the upsert names stays on the Account
    if twin is not None and twin != customer_field:
        values[twin] = customer_id
    return values
