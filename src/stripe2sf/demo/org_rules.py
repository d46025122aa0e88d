"""An administrator's rules of a real org, as SFDX source files: validation rules on what
stripe2sf writes, a required custom field with a default, and Account record types.

They guard data stripe2sf writes correctly, so every flow passes them. `stripe2sf demo --org
rules` deploys them to the demo's org after stripe2sf's own metadata (they name its fields), and
the flow tests run on an org holding them (`tests/support/org_rules.py`).
"""

from __future__ import annotations

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


# (object, rule name) -> the ValidationRule source
RULES: dict[tuple[str, str], str] = {
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
# a required picklist with a default: inserts that do not name it get "Standard"
TIER = (
    f'<?xml version="1.0" encoding="UTF-8"?><CustomField xmlns="{MD}">'
    "<fullName>Tier__c</fullName><label>Tier</label><required>true</required>"
    "<type>Picklist</type><valueSet><restricted>true</restricted><valueSetDefinition>"
    "<value><fullName>Standard</fullName><default>true</default><label>Standard</label></value>"
    "<value><fullName>Gold</fullName><default>false</default><label>Gold</label></value>"
    "</valueSetDefinition></valueSet></CustomField>"
)
# the default record type of new Accounts (the first by name) allows every billing status
DEFAULT_ACCOUNT_RECORD_TYPE = "Customer"
ORG_RULES: dict[str, str] = {
    **{
        f"objects/{sobject}/validationRules/{name}.validationRule-meta.xml": xml
        for (sobject, name), xml in RULES.items()
    },
    "objects/Account/fields/Tier__c.field-meta.xml": TIER,
    f"objects/Account/recordTypes/{DEFAULT_ACCOUNT_RECORD_TYPE}.recordType-meta.xml": (
        _record_type(DEFAULT_ACCOUNT_RECORD_TYPE, ["Current", "Payment Overdue", "At Risk"])
    ),
    "objects/Account/recordTypes/Partner.recordType-meta.xml": _record_type("Partner", ["Current"]),
}
