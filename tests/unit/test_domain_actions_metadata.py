"""Salesforce actions in `stripe2sf metadata`: the Opportunity fields, the Stripe_Request__c
object, the permission set entries and the Change Data Capture channel members; nothing of
them while actions are off."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from stripe2sf.domain.config import SyncConfig, from_mapping
from stripe2sf.domain.setup.access import finance_access, integration_access, viewer_access
from stripe2sf.domain.setup.metadata import generate_metadata
from stripe2sf.domain.setup.needs import needs, parse_permission_set

NS = "{http://soap.sforce.com/2006/04/metadata}"
BASE = "force-app/main/default"
ON = from_mapping({"actions": {"enabled": True}})


def test_off_by_default_nothing_of_actions() -> None:
    files = generate_metadata(SyncConfig())
    assert not [p for p in files if "Opportunity" in p or "Stripe_Request" in p]
    assert not [p for p in files if "platformEventChannelMembers" in p]
    assert "Opportunity" not in integration_access(SyncConfig()).objects


def test_fields_object_and_channel_members() -> None:
    files = generate_metadata(ON)
    field = lambda obj, name: ET.fromstring(  # noqa: E731
        files[f"{BASE}/objects/{obj}/fields/{name}.field-meta.xml"]
    )
    assert field("Opportunity", "Stripe_Price_Id__c").findtext(f"{NS}type") == "Text"
    assert field("Opportunity", "Stripe_Invoice_Url__c").findtext(f"{NS}type") == "Url"
    error = field("Opportunity", "Stripe_Error__c")
    assert (error.findtext(f"{NS}type"), error.findtext(f"{NS}length")) == ("LongTextArea", "32768")
    assert error.findtext(f"{NS}visibleLines") == "3"
    status = field("Opportunity", "Stripe_Status__c")
    values = [v.findtext(f"{NS}fullName") for v in status.iter(f"{NS}value")]
    assert values[0] == "Invoice sent" and "Error" in values
    obj = ET.fromstring(
        files[f"{BASE}/objects/Stripe_Request__c/Stripe_Request__c.object-meta.xml"]
    )
    assert obj.findtext(f"{NS}nameField/{NS}displayFormat") == "REQ-{00000000}"
    lookup = field("Stripe_Request__c", "Opportunity__c")
    assert lookup.findtext(f"{NS}referenceTo") == "Opportunity"
    status = field("Stripe_Request__c", "Status__c")
    assert next(v.findtext(f"{NS}fullName") for v in status.iter(f"{NS}value")) == "New"
    members = {
        p.rsplit("/", 1)[1].split(".")[0]: ET.fromstring(t)
        for p, t in files.items()
        if "/platformEventChannelMembers/" in p
    }
    assert sorted(members) == [
        "ChangeEvents_AccountChangeEvent",
        "ChangeEvents_ContactChangeEvent",
        "ChangeEvents_OpportunityChangeEvent",
        "ChangeEvents_Stripe_Request_ChangeEvent",
    ]
    request = members["ChangeEvents_Stripe_Request_ChangeEvent"]
    assert request.tag == f"{NS}PlatformEventChannelMember"
    assert request.findtext(f"{NS}eventChannel") == "ChangeEvents"
    assert request.findtext(f"{NS}selectedEntity") == "Stripe_Request__ChangeEvent"


def test_permission_sets() -> None:
    integration = integration_access(ON)
    assert (integration.objects["Opportunity"].edit, integration.objects["Opportunity"].create) == (
        True,
        False,
    )
    assert integration.editable("Opportunity.Stripe_Invoice_Id__c")
    assert integration.editable("Stripe_Request__c.Status__c")
    assert integration.readable("Opportunity.AccountId")
    assert not integration.editable("Opportunity.AccountId")
    assert "Opportunity.StageName" not in integration.fields  # required: no field permission
    # their change events (Change Data Capture) take View All Records on each captured object
    captured = ("Account", "Contact", "Opportunity", "Stripe_Request__c")
    assert {o for o, r in integration.objects.items() if r.view_all} == set(captured)
    assert not any(r.view_all for r in viewer_access(ON).objects.values())
    viewer = viewer_access(ON)
    assert viewer.editable("Opportunity.Stripe_Price_Id__c")
    assert viewer.readable("Opportunity.Stripe_Status__c")
    assert not viewer.editable("Opportunity.Stripe_Status__c")
    assert viewer.objects["Stripe_Request__c"].create
    assert viewer.editable("Stripe_Request__c.Price_Id__c")
    assert not viewer.editable("Stripe_Request__c.Stripe_Invoice_Url__c")
    finance = finance_access(ON)
    assert finance.readable("Stripe_Request__c.Stripe_Invoice_Id__c")
    assert not finance.editable("Opportunity.Stripe_Price_Id__c")
    assert not finance.objects["Stripe_Request__c"].create
    # the generated set grants what the configuration needs of the integration user
    text = generate_metadata(ON)[
        f"{BASE}/permissionsets/Stripe2sf_Integration.permissionset-meta.xml"
    ]
    grants = parse_permission_set(text)
    wanted = {(n.sobject, n.field): n.rights for n in needs(ON) if "Salesforce actions" in n.why}
    assert wanted[("Opportunity", None)] == {"read", "edit"}
    assert grants.objects["Opportunity"] >= wanted[("Opportunity", None)]
    for (sobject, name), rights in wanted.items():
        if name is not None and name.endswith("__c"):
            assert grants.fields[f"{sobject}.{name}"] >= rights, (sobject, name)


def test_products_price_field_and_the_reads_of_products_and_contact_roles() -> None:
    """With products billed (price_source auto or products) `metadata` adds Product2's price
    field; the integration set reads it and Product2, never edits them, and names no
    OpportunityLineItem or OpportunityContactRole object (their access is Opportunity's)."""
    files = generate_metadata(ON)
    price = ET.fromstring(
        files[f"{BASE}/objects/Product2/fields/Stripe_Price_Id__c.field-meta.xml"]
    )
    assert price.findtext(f"{NS}type") == "Text"
    integration = integration_access(ON)
    assert integration.objects["Product2"] == integration.objects["Product2"].__class__()  # read
    assert integration.readable("Product2.Stripe_Price_Id__c")
    assert not integration.editable("Product2.Stripe_Price_Id__c")
    assert integration.readable("OpportunityLineItem.Product2Id")
    assert integration.readable("OpportunityContactRole.IsPrimary")
    assert not {"OpportunityLineItem", "OpportunityContactRole"} & set(integration.objects)
    grants = parse_permission_set(
        generate_metadata(ON)[f"{BASE}/permissionsets/Stripe2sf_Integration.permissionset-meta.xml"]
    )
    assert grants.objects["Product2"] == {"read"}
    wanted = {(n.sobject, n.field) for n in needs(ON) if "Salesforce actions" in n.why}
    assert {("OpportunityLineItem", None), ("OpportunityContactRole", None)} <= wanted
    assert ("Product2", "Stripe_Price_Id__c") in wanted
    # a custom product field; and none with the Opportunity's field only
    custom = from_mapping({"actions": {"enabled": True, "product_price_field": "Price_Ref__c"}})
    assert f"{BASE}/objects/Product2/fields/Price_Ref__c.field-meta.xml" in generate_metadata(
        custom
    )
    field_only = from_mapping({"actions": {"enabled": True, "price_source": "field"}})
    assert not [p for p in generate_metadata(field_only) if "Product2" in p]
    assert "Product2" not in integration_access(field_only).objects
