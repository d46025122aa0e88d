"""Products and price books, and the Opportunity's products and contact roles: Product2,
Pricebook2, PricebookEntry, OpportunityLineItem, OpportunityContactRole, with Salesforce's key
prefixes (01t, 01s, 01u, 00k, 00K), standard fields and relationship names, so that

    SELECT Id, Quantity, Product2.Name, Product2.Stripe_Price_Id__c
      FROM OpportunityLineItem WHERE OpportunityId = '006...'
    SELECT ContactId, Contact.Email, IsPrimary FROM OpportunityContactRole WHERE ...
    SELECT Name, (SELECT Quantity FROM OpportunityLineItems) FROM Opportunity

answer as they do in an org. What Salesforce derives on a write (a line's product, name, list
and total price; one primary contact role) is ``models.products``.
"""

from __future__ import annotations

from salesforce_sandbox.schema.model import FieldDef, ObjectDef
from salesforce_sandbox.schema.standard import lookup, picklist, system_fields, text

CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)


def _fixed(name: str, type_: str, label: str = "", **kw: object) -> FieldDef:
    """A field Salesforce sets itself (read only through the API)."""
    return FieldDef(name, type_, label, createable=False, updateable=False, **kw)  # type: ignore[arg-type]


def product2() -> ObjectDef:
    obj = ObjectDef("Product2", "01t", "Product", "Products")
    system_fields(obj, owner=False)
    obj.add(text("Name", 255, "Product Name", required=True, indexed=True))
    obj.add(text("ProductCode", 255, "Product Code", indexed=True))
    obj.add(FieldDef("Description", "textarea", "Product Description", length=4000))
    obj.add(FieldDef("IsActive", "boolean", "Active", default=False))
    obj.add(
        FieldDef(
            "Family",
            "picklist",
            "Product Family",
            length=40,
            picklist=picklist("None", "Hardware", "Software", "Services"),
        )
    )
    return obj


def pricebook2() -> ObjectDef:
    obj = ObjectDef("Pricebook2", "01s", "Price Book", "Price Books")
    system_fields(obj, owner=False)
    obj.add(text("Name", 255, "Price Book Name", required=True, indexed=True))
    obj.add(FieldDef("Description", "string", length=255))
    obj.add(FieldDef("IsActive", "boolean", "Active", default=False))
    obj.add(_fixed("IsStandard", "boolean", "Is Standard Price Book"))
    return obj


def pricebook_entry() -> ObjectDef:
    obj = ObjectDef("PricebookEntry", "01u", "Price Book Entry", "Price Book Entries")
    system_fields(obj, owner=False)
    obj.add(
        lookup(
            "Pricebook2Id",
            ["Pricebook2"],
            "Pricebook2",
            "PricebookEntries",
            label="Price Book ID",
            required=True,
            updateable=False,
        )
    )
    obj.add(
        lookup(
            "Product2Id",
            ["Product2"],
            "Product2",
            "PricebookEntries",
            label="Product ID",
            required=True,
            updateable=False,
        )
    )
    obj.add(_fixed("Name", "string", "Product Name", length=255))
    obj.add(_fixed("ProductCode", "string", "Product Code", length=255))
    obj.add(FieldDef("UnitPrice", "currency", "List Price", precision=18, scale=2, required=True))
    obj.add(FieldDef("IsActive", "boolean", "Active", default=False))
    obj.add(FieldDef("UseStandardPrice", "boolean", "Use Standard Price", default=False))
    return obj


def opportunity_line_item() -> ObjectDef:
    obj = ObjectDef("OpportunityLineItem", "00k", "Opportunity Product", "Opportunity Product")
    system_fields(obj, owner=False)
    obj.add(
        lookup(
            "OpportunityId",
            ["Opportunity"],
            "Opportunity",
            "OpportunityLineItems",
            label="Opportunity ID",
            required=True,
            updateable=False,
        )
    )
    obj.add(
        lookup(
            "PricebookEntryId",
            ["PricebookEntry"],
            "PricebookEntry",
            "OpportunityLineItems",
            label="Price Book Entry ID",
            updateable=False,
        )
    )
    obj.add(
        lookup(
            "Product2Id",
            ["Product2"],
            "Product2",
            "OpportunityLineItems",
            label="Product ID",
            updateable=False,
        )
    )
    obj.add(_fixed("Name", "string", "Opportunity Product Name", length=376))
    obj.add(_fixed("ProductCode", "string", "Product Code", length=255))
    obj.add(FieldDef("Quantity", "double", precision=12, scale=2, required=True))
    obj.add(FieldDef("UnitPrice", "currency", "Sales Price", precision=18, scale=2))
    obj.add(FieldDef("TotalPrice", "currency", "Total Price", precision=18, scale=2))
    obj.add(_fixed("ListPrice", "currency", "List Price", precision=18, scale=2))
    obj.add(FieldDef("Discount", "percent", precision=18, scale=2))
    obj.add(FieldDef("ServiceDate", "date", "Date"))
    obj.add(FieldDef("Description", "string", "Line Description", length=255))
    obj.add(_fixed("SortOrder", "int", "Sort Order", precision=9))
    return obj


def opportunity_contact_role() -> ObjectDef:
    obj = ObjectDef(
        "OpportunityContactRole", "00K", "Opportunity Contact Role", "Opportunity Contact Role"
    )
    system_fields(obj, owner=False)
    obj.add(
        lookup(
            "OpportunityId",
            ["Opportunity"],
            "Opportunity",
            "OpportunityContactRoles",
            label="Opportunity ID",
            required=True,
            updateable=False,
        )
    )
    obj.add(
        lookup(
            "ContactId",
            ["Contact"],
            "Contact",
            "OpportunityContactRoles",
            label="Contact ID",
            required=True,
        )
    )
    obj.add(FieldDef("Role", "picklist", length=40, picklist=picklist(*CONTACT_ROLES)))
    obj.add(FieldDef("IsPrimary", "boolean", "Primary", default=False))
    return obj


def product_objects() -> list[ObjectDef]:
    return [
        product2(),
        pricebook2(),
        pricebook_entry(),
        opportunity_line_item(),
        opportunity_contact_role(),
    ]
