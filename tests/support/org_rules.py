"""The rules of a "validation rules on" org, as an admin of a real org has them: validation
rules on what stripe2sf writes, a required custom field with a default, and Account record
types. They guard data stripe2sf writes correctly, so every flow passes them; a flow test run
on this org (`sync_env(org_rules=ORG_RULES)`) proves it, and `check_org_rules` that the rules
were really there."""

from __future__ import annotations

from typing import Any

MD = "http://soap.sforce.com/2006/04/metadata"


def _rule(name: str, formula: str, message: str, field: str | None = None) -> str:
    shown = f"<errorDisplayField>{field}</errorDisplayField>" if field else ""
    formula = formula.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ValidationRule xmlns="{MD}">'
        f"<fullName>{name}</fullName><active>true</active>"
        f"<errorConditionFormula>{formula}</errorConditionFormula>{shown}"
        f"<errorMessage>{message}</errorMessage></ValidationRule>"
    )


def _record_type(name: str, billing: list[str]) -> str:
    values = "".join(f"<values><fullName>{v}</fullName></values>" for v in billing)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><RecordType xmlns="{MD}">'
        f"<fullName>{name}</fullName><active>true</active><label>{name}</label>"
        f"<picklistValues><picklist>Billing_Status__c</picklist>{values}</picklistValues>"
        "</RecordType>"
    )


RULES = {
    ("Account", "Stripe_Id_Is_Permanent"): _rule(
        "Stripe_Id_Is_Permanent",
        "ISCHANGED(Stripe_Customer_Id__c) && NOT(ISBLANK(PRIORVALUE(Stripe_Customer_Id__c)))",
        "An account's Stripe customer never changes",
        "Stripe_Customer_Id__c",
    ),
    ("Account", "Billing_Status_Needs_Customer"): _rule(
        "Billing_Status_Needs_Customer",
        "NOT(ISBLANK(TEXT(Billing_Status__c))) && ISBLANK(Stripe_Customer_Id__c)",
        "Only Stripe customers have a billing status",
        "Billing_Status__c",
    ),
    ("Contact", "Email_Format"): _rule(
        "Email_Format",
        'NOT(ISBLANK(Email)) && NOT(REGEX(Email, "[^@ ]+@[^@ ]+[.][^@ ]+"))',
        "Enter a valid email address",
        "Email",
    ),
    ("Stripe_Payment__c", "Amount_Not_Negative"): _rule(
        "Amount_Not_Negative", "Amount__c < 0", "A payment is never negative", "Amount__c"
    ),
    ("Stripe_Payment__c", "Refund_Within_Amount"): _rule(
        "Refund_Within_Amount",
        "Amount_Refunded__c > Amount__c",
        "A refund cannot exceed its payment",
    ),
}
TIER = (
    f'<?xml version="1.0" encoding="UTF-8"?><CustomField xmlns="{MD}">'
    "<fullName>Tier__c</fullName><label>Tier</label><required>true</required>"
    "<type>Picklist</type><valueSet><restricted>true</restricted><valueSetDefinition>"
    "<value><fullName>Standard</fullName><default>true</default><label>Standard</label></value>"
    "<value><fullName>Gold</fullName><default>false</default><label>Gold</label></value>"
    "</valueSetDefinition></valueSet></CustomField>"
)
ORG_RULES: dict[str, str] = {
    **{
        f"objects/{sobject}/validationRules/{name}.validationRule-meta.xml": xml
        for (sobject, name), xml in RULES.items()
    },
    "objects/Account/fields/Tier__c.field-meta.xml": TIER,
    # the default record type of new Accounts (the first by name) allows every billing status
    "objects/Account/recordTypes/Customer.recordType-meta.xml": _record_type(
        "Customer", ["Current", "Payment Overdue", "At Risk"]
    ),
    "objects/Account/recordTypes/Partner.recordType-meta.xml": _record_type("Partner", ["Current"]),
}


def check_org_rules(sf: Any) -> None:
    """The rules were in force: the org lists them, and stripe2sf's Accounts got the default
    record type and the required field's default."""
    found = sf.restful(
        "tooling/query",
        params={"q": "SELECT ValidationName FROM ValidationRule WHERE Active = true"},
    )["records"]
    assert {r["ValidationName"] for r in found} == {name for _, name in RULES}
    accounts = sf.query_all("SELECT RecordType.DeveloperName, Tier__c FROM Account")["records"]
    assert accounts, "the flow wrote no Account"
    assert {(a["RecordType"]["DeveloperName"], a["Tier__c"]) for a in accounts} == {
        ("Customer", "Standard")
    }
