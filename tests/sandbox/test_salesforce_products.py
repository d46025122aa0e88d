"""The Salesforce sandbox's products and price books, Opportunity products and contact roles
(``schema.products``, ``models.products``), driven by simple-salesforce as an org is."""

from __future__ import annotations

from datetime import date

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.sandbox import salesforce_fixtures

salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def _standard_pricebook(sf: Salesforce) -> str:
    [row] = sf.query("SELECT Id, Name FROM Pricebook2 WHERE IsStandard = true")["records"]
    assert row["Name"] == "Standard Price Book"
    return str(row["Id"])


def _product(sf: Salesforce, name: str, price: float, pricebook: str) -> tuple[str, str]:
    product = str(
        sf.Product2.create({"Name": name, "ProductCode": name[:3].upper(), "IsActive": True})["id"]
    )
    entry = sf.PricebookEntry.create(
        {"Pricebook2Id": pricebook, "Product2Id": product, "UnitPrice": price, "IsActive": True}
    )
    return product, str(entry["id"])


def _opportunity(sf: Salesforce, name: str = "Rockets deal") -> str:
    fields = {"Name": name, "StageName": "Prospecting", "CloseDate": date.today().isoformat()}
    return str(sf.Opportunity.create(fields)["id"])


def test_key_prefixes_and_relationship_queries(sf: Salesforce) -> None:
    book = _standard_pricebook(sf)
    assert book.startswith("01s")
    widget, widget_entry = _product(sf, "Widget Pro", 120.0, book)
    gadget, gadget_entry = _product(sf, "Gadget", 30.0, book)
    assert widget.startswith("01t") and widget_entry.startswith("01u")
    opp = _opportunity(sf)
    first = sf.OpportunityLineItem.create(
        {"OpportunityId": opp, "PricebookEntryId": widget_entry, "Quantity": 2, "UnitPrice": 100}
    )
    # only a product: its entry in the standard price book; a total price gives the unit one
    second = sf.OpportunityLineItem.create(
        {"OpportunityId": opp, "Product2Id": gadget, "Quantity": 4, "TotalPrice": 100}
    )
    assert str(first["id"]).startswith("00k")
    rows = sf.query(
        "SELECT Id, Name, Quantity, UnitPrice, TotalPrice, ListPrice, PricebookEntryId, "
        "Product2Id, Product2.Name, Product2.ProductCode FROM OpportunityLineItem "
        f"WHERE OpportunityId = '{opp}' ORDER BY CreatedDate, Id"
    )["records"]
    got = [
        (
            r["Id"],
            r["Name"],
            r["Quantity"],
            r["UnitPrice"],
            r["TotalPrice"],
            r["ListPrice"],
            r["PricebookEntryId"],
            r["Product2Id"],
            r["Product2"]["Name"],
        )
        for r in rows
    ]
    assert got == [
        (
            first["id"],
            "Rockets deal Widget Pro",
            2.0,
            100.0,
            200.0,
            120.0,
            widget_entry,
            widget,
            "Widget Pro",
        ),
        (
            second["id"],
            "Rockets deal Gadget",
            4.0,
            25.0,
            100.0,
            30.0,
            gadget_entry,
            gadget,
            "Gadget",
        ),
    ]
    # a quantity change keeps the unit price
    sf.OpportunityLineItem.update(first["id"], {"Quantity": 3})
    assert sf.OpportunityLineItem.get(first["id"])["TotalPrice"] == 300.0
    # the parent's child relationship
    [parent] = sf.query(
        "SELECT Name, (SELECT Quantity FROM OpportunityLineItems) FROM Opportunity "
        f"WHERE Id = '{opp}'"
    )["records"]
    assert sorted(r["Quantity"] for r in parent["OpportunityLineItems"]["records"]) == [3.0, 4.0]


def test_line_items_refused_as_salesforce_refuses_them(sf: Salesforce) -> None:
    book = _standard_pricebook(sf)
    product, entry = _product(sf, "Widget", 10.0, book)
    opp = _opportunity(sf)
    cases = [
        ({"PricebookEntryId": entry, "Quantity": 1}, "must specify either TotalPrice or UnitPrice"),
        (
            {"PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 1, "TotalPrice": 1},
            "cannot specify both UnitPrice and TotalPrice",
        ),
        ({"Quantity": 1, "UnitPrice": 1}, "Required fields are missing: [PricebookEntryId]"),
    ]
    for fields, message in cases:
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.OpportunityLineItem.create({"OpportunityId": opp, **fields})
        assert message in str(refused.value.content)
    sf.PricebookEntry.update(entry, {"IsActive": False})
    with pytest.raises(SalesforceMalformedRequest) as inactive:
        sf.OpportunityLineItem.create(
            {"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 1}
        )
    assert "pricebook entry is inactive" in str(inactive.value.content)
    # a custom price book needs the standard price first; one entry per book
    custom = str(sf.Pricebook2.create({"Name": "Partners", "IsActive": True})["id"])
    other = str(sf.Product2.create({"Name": "Loose", "IsActive": True})["id"])
    with pytest.raises(SalesforceMalformedRequest) as standard:
        sf.PricebookEntry.create({"Pricebook2Id": custom, "Product2Id": other, "UnitPrice": 5})
    assert "STANDARD_PRICE_NOT_DEFINED" in str(standard.value.content)
    with pytest.raises(SalesforceMalformedRequest) as twice:
        sf.PricebookEntry.create({"Pricebook2Id": book, "Product2Id": product, "UnitPrice": 5})
    assert "already exists in this price book" in str(twice.value.content)
    assert (
        sf.query("SELECT IsStandard FROM Pricebook2 WHERE Id = '" + custom + "'")["records"][0][
            "IsStandard"
        ]
        is False
    )


def test_contact_roles_have_one_primary(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Acme"})["id"]
    ann = sf.Contact.create({"LastName": "Ann", "Email": "ann@acme.example", "AccountId": account})[
        "id"
    ]
    bob = sf.Contact.create({"LastName": "Bob", "Email": "bob@acme.example", "AccountId": account})[
        "id"
    ]
    opp = _opportunity(sf)
    first = sf.OpportunityContactRole.create(
        {"OpportunityId": opp, "ContactId": ann, "Role": "Economic Buyer", "IsPrimary": True}
    )
    assert str(first["id"]).startswith("00K")
    sf.OpportunityContactRole.create({"OpportunityId": opp, "ContactId": bob, "IsPrimary": True})
    rows = sf.query(
        "SELECT Contact.Email, IsPrimary, Role FROM OpportunityContactRole "
        f"WHERE OpportunityId = '{opp}' ORDER BY CreatedDate, Id"
    )["records"]
    assert [(r["Contact"]["Email"], r["IsPrimary"], r["Role"]) for r in rows] == [
        ("ann@acme.example", False, "Economic Buyer"),
        ("bob@acme.example", True, None),
    ]


def test_products_and_contact_roles_follow_their_parents_permissions() -> None:
    """No permission set names OpportunityLineItem, OpportunityContactRole or
    PricebookEntry: read on Opportunity reads them, edit on it writes them."""
    from salesforce_sandbox.models.permissions import Grants, object_access
    from salesforce_sandbox.schema.permission_set import ObjectGrant
    from salesforce_sandbox.schema.products import product_objects

    objects = {o.name: o for o in product_objects()}
    reader = Grants(
        "005X",
        frozenset({"ApiEnabled"}),
        {"opportunity": ObjectGrant("Opportunity", read=True)},
        {},
    )
    editor = Grants(
        "005Y",
        frozenset({"ApiEnabled"}),
        {"opportunity": ObjectGrant("Opportunity", read=True, edit=True)},
        {},
    )
    nobody = Grants("005Z", frozenset({"ApiEnabled"}), {}, {})
    for name in ("OpportunityLineItem", "OpportunityContactRole"):
        read, wrote = object_access(reader, objects[name]), object_access(editor, objects[name])
        assert (read.read, read.create, read.edit) == (True, False, False)
        assert (wrote.read, wrote.create, wrote.edit, wrote.delete) == (True, True, True, True)
        assert not object_access(nobody, objects[name]).read
    assert not object_access(reader, objects["PricebookEntry"]).read  # Pricebook2's
    assert not object_access(reader, objects["Product2"]).read  # its own permission
