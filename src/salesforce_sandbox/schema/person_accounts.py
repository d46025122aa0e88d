"""Person Accounts, the schema side (pure): what the feature adds to Account and Contact.

A person account is one Account row plus a hidden "person contact" (a Contact whose
``IsPersonAccount`` is true and whose ``AccountId`` is the account; ``Account.PersonContactId``
names it). The person's fields live on the Contact and show on the Account:

* ``FirstName``, ``LastName``, ``Salutation`` under their Contact names;
* ``Person<Field>`` for the Contact's other standard fields (``PersonEmail`` is
  ``Contact.Email``, ``PersonMailingCity`` ``Contact.MailingCity``, ...);
* ``<Name>__pc`` for every Contact custom field ``<Name>__c``;
* ``Phone`` and ``OwnerId``, which both objects have, stay in step.

``Account.RecordTypeId`` names a record type of the Account: the "Person Account" record type
(``IsPersonType``) makes a person account, any other a business account, whose person fields
stay empty. ``IsPersonAccount`` (both objects) and ``PersonContactId`` are read-only.

Field-level security of a person field is its Contact field's (``governing_field``): a user who
may edit ``Contact.Email`` may edit ``Account.PersonEmail``.
"""

from __future__ import annotations

from dataclasses import replace

from salesforce_sandbox import ids
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.schema.standard import lookup, picklist, text

NAME = "person-accounts"
PERSON_RECORD_TYPE_ID = ids.make_id("012", 1)
BUSINESS_RECORD_TYPE_ID = ids.make_id("012", 2)
PERSON_SUFFIX = "__pc"

# Person field of the Account -> its Contact field (standard fields; custom ones by suffix).
PERSON_FIELDS: dict[str, str] = {
    "FirstName": "FirstName",
    "LastName": "LastName",
    "Salutation": "Salutation",
    "PersonEmail": "Email",
    "PersonMobilePhone": "MobilePhone",
    "PersonTitle": "Title",
    "PersonDepartment": "Department",
    "PersonBirthdate": "Birthdate",
    "PersonMailingStreet": "MailingStreet",
    "PersonMailingCity": "MailingCity",
    "PersonMailingState": "MailingState",
    "PersonMailingPostalCode": "MailingPostalCode",
    "PersonMailingCountry": "MailingCountry",
    "PersonHasOptedOutOfEmail": "HasOptedOutOfEmail",
}
# Fields both objects have, kept equal on a person account.
SHARED_FIELDS: dict[str, str] = {"Phone": "Phone", "OwnerId": "OwnerId"}
READ_ONLY = ("IsPersonAccount", "PersonContactId")


def _account_fields() -> list[FieldDef]:
    return [
        lookup("RecordTypeId", ["RecordType"], "RecordType", None, label="Record Type ID"),
        FieldDef(
            "IsPersonAccount", "boolean", "Is Person Account", createable=False, updateable=False
        ),
        lookup(
            "PersonContactId",
            ["Contact"],
            "PersonContact",
            None,
            label="Person Contact ID",
            createable=False,
            updateable=False,
            indexed=True,
        ),
        text("FirstName", 40, "First Name"),
        text("LastName", 80, "Last Name"),
        FieldDef(
            "Salutation",
            "picklist",
            length=40,
            picklist=picklist("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."),
        ),
        FieldDef("PersonEmail", "email", "Email", length=80, indexed=True),
        FieldDef("PersonMobilePhone", "phone", "Mobile", length=40),
        text("PersonTitle", 80, "Title"),
        text("PersonDepartment", 80, "Department"),
        FieldDef("PersonBirthdate", "date", "Birthdate"),
        FieldDef("PersonMailingStreet", "textarea", "Mailing Street", length=255),
        text("PersonMailingCity", 40, "Mailing City"),
        text("PersonMailingState", 80, "Mailing State/Province"),
        text("PersonMailingPostalCode", 20, "Mailing Zip/Postal Code"),
        text("PersonMailingCountry", 80, "Mailing Country"),
        FieldDef("PersonHasOptedOutOfEmail", "boolean", "Email Opt Out", default=False),
    ]


def _person_copy(field: FieldDef) -> FieldDef:
    """``Account.X__pc`` for ``Contact.X__c``: the same field, not a key of the Account."""
    return replace(
        field,
        name=field.name.removesuffix("__c") + PERSON_SUFFIX,
        external_id=False,
        unique=False,
        required=False,
        indexed=field.indexed,
        picklist=list(field.picklist),
        reference_to=list(field.reference_to),
        relationship_name=None,
        child_relationship=None,
    )


def is_person_field(name: str) -> bool:
    """Whether an Account field exists only on person accounts (refused on business ones)."""
    return name in PERSON_FIELDS or name.endswith(PERSON_SUFFIX)


def contact_field_of(account_field: str) -> str | None:
    """The Contact field an Account field mirrors on a person account (None: Account-only)."""
    if account_field in PERSON_FIELDS:
        return PERSON_FIELDS[account_field]
    if account_field in SHARED_FIELDS:
        return SHARED_FIELDS[account_field]
    if account_field.endswith(PERSON_SUFFIX):
        return account_field.removesuffix(PERSON_SUFFIX) + "__c"
    return None


def account_field_of(contact_field: str) -> str | None:
    """The Account field a person contact's field shows as (None: Contact-only)."""
    for account_field, source in (*PERSON_FIELDS.items(), *SHARED_FIELDS.items()):
        if source == contact_field:
            return account_field
    if contact_field.endswith("__c"):
        return contact_field.removesuffix("__c") + PERSON_SUFFIX
    return None


def enabled(schema: Schema) -> bool:
    account = schema.get("Account")
    return account is not None and account.field("IsPersonAccount") is not None


def apply(schema: Schema) -> None:
    """Add the person account fields (again after a deploy: idempotent); every Contact custom
    field gets its ``__pc`` twin on the Account, and twins of removed fields go."""
    account, contact = schema.get("Account"), schema.get("Contact")
    if account is None or contact is None:
        return
    for definition in _account_fields():
        if account.field(definition.name) is None:
            account.add(definition)
    if contact.field("IsPersonAccount") is None:
        contact.add(
            FieldDef(
                "IsPersonAccount",
                "boolean",
                "Is Person Account",
                createable=False,
                updateable=False,
            )
        )
    twins = {
        _person_copy(f).name.lower(): f
        for f in contact.fields.values()
        if f.custom and f.name.endswith("__c")
    }
    for name in [n for n, f in account.fields.items() if f.name.endswith(PERSON_SUFFIX)]:
        if name not in twins:
            account.remove(name)
    for lowered, source in twins.items():
        if account.fields.get(lowered) is None:
            account.add(_person_copy(source))


def remove(schema: Schema) -> None:
    """Back to business accounts only (and the schema to be saved: what this feature adds is
    derived again at every start)."""
    account, contact = schema.get("Account"), schema.get("Contact")
    if account is not None:
        for definition in _account_fields():
            if definition.name == "RecordTypeId" and account.rules.record_types:
                continue  # record types deployed as metadata keep it
            account.remove(definition.name)
        for name in [f.name for f in account.fields.values() if f.name.endswith(PERSON_SUFFIX)]:
            account.remove(name)
    if contact is not None:
        contact.remove("IsPersonAccount")


def governing_field(
    schema: Schema, obj: ObjectDef, definition: FieldDef
) -> tuple[ObjectDef, FieldDef]:
    """The object and field whose field-level security applies to ``obj.definition``: a
    person field's Contact field, else the field itself."""
    if obj.name != "Account" or not is_person_field(definition.name):
        return obj, definition
    contact = schema.get("Contact")
    source = contact.field(contact_field_of(definition.name) or "") if contact else None
    if contact is None or source is None:
        return obj, definition
    return contact, source


def record_types() -> list[dict[str, object]]:
    """The record types the feature seeds: enabling person accounts needs a business account
    record type, and brings the "Person Account" one."""
    return [
        {
            "Id": BUSINESS_RECORD_TYPE_ID,
            "Name": "Business Account",
            "DeveloperName": "Business_Account",
            "SobjectType": "Account",
            "IsActive": True,
            "IsPersonType": False,
            "Description": "Companies and organizations",
        },
        {
            "Id": PERSON_RECORD_TYPE_ID,
            "Name": "Person Account",
            "DeveloperName": "PersonAccount",
            "SobjectType": "Account",
            "IsActive": True,
            "IsPersonType": True,
            "Description": "People (business-to-consumer)",
        },
    ]
