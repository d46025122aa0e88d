"""Products on Opportunities, the record side: a ``Records`` hook (``RecordHook``) deriving
what Salesforce derives when price book entries, opportunity products and contact roles are
written (``schema.products`` has the objects).

* A price book entry takes its ``Name`` and ``ProductCode`` from its product. An entry in a
  custom price book needs the product's standard price first (STANDARD_PRICE_NOT_DEFINED "No
  standard price defined for this product"); a product has one entry per price book
  (DUPLICATE_VALUE "This price definition already exists in this price book").
* An opportunity product names its ``PricebookEntryId``, or only ``Product2Id`` (its entry is
  then the one of the Opportunity's price book, or of the standard one). The entry must be
  active and, when the Opportunity has a price book, in it. The line gets the entry's product
  (``Product2Id``, ``ProductCode``), ``ListPrice`` (the entry's ``UnitPrice``) and ``Name``
  ("<Opportunity name> <product name>"). Exactly one of ``UnitPrice`` and ``TotalPrice`` is
  given on create (FIELD_INTEGRITY_EXCEPTION otherwise); the other follows from ``Quantity``,
  and again on every update.
* An Opportunity has at most one primary contact role: marking one ``IsPrimary`` clears it on
  the others.

The standard price book ("Standard Price Book", ``IsStandard``) is seeded with the org
(``STANDARD_PRICEBOOK_ID``).
"""

from __future__ import annotations

from collections.abc import Callable

from salesforce_sandbox import ids
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.schema.model import ObjectDef, Schema

STANDARD_PRICEBOOK_ID = ids.make_id("01s", 1)
STANDARD_PRICEBOOK_NAME = "Standard Price Book"


def _integrity(detail: str, field: str) -> SalesforceError:
    return SalesforceError(
        "FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {detail}", fields=[field]
    )


class Products:
    """The products hook of one org's ``Records``."""

    def __init__(self, store: Store, records: Records, schema: Callable[[], Schema]) -> None:
        self.store = store
        self.records = records
        self.schema = schema

    def seed(self) -> None:
        """The standard price book, as every org has it (after a reset too)."""
        if self.store.get(STANDARD_PRICEBOOK_ID) is not None:
            return
        obj = self.schema().get("Pricebook2")
        assert obj is not None
        self.records.create(
            obj,
            {"Id": STANDARD_PRICEBOOK_ID, "Name": STANDARD_PRICEBOOK_NAME, "IsActive": True},
            system=True,
        )
        found = self.store.get(STANDARD_PRICEBOOK_ID)
        assert found is not None
        self.store.replace(STANDARD_PRICEBOOK_ID, {**found[2], "IsStandard": True})

    def _live(self, record_id: object) -> Record | None:
        found = self.store.get(str(record_id)) if record_id else None
        return found[2] if found is not None and not found[1] else None

    # the hook ---------------------------------------------------------------------------------
    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None:
        if obj.name == "PricebookEntry":
            self._entry(record, current)
        elif obj.name == "OpportunityLineItem":
            self._line(record, current)

    def after_write(self, obj: ObjectDef, record: Record) -> None:
        if obj.name == "OpportunityContactRole" and record.get("IsPrimary"):
            roles = self.store.lookup(
                "OpportunityContactRole", "OpportunityId", str(record["OpportunityId"])
            )
            for role_id in roles:
                other = self._live(role_id)
                if role_id != record["Id"] and other is not None and other.get("IsPrimary"):
                    self.records.update(obj, role_id, {"IsPrimary": False}, system=True)

    def _entry(self, record: Record, current: Record | None) -> None:
        product = self._live(record.get("Product2Id"))
        if product is None:
            return  # the reference check says so
        record["Name"] = product.get("Name")
        record["ProductCode"] = product.get("ProductCode")
        if current is not None:
            return
        pricebook_id = str(record.get("Pricebook2Id") or "")
        same = set(self.store.lookup("PricebookEntry", "Product2Id", str(product["Id"])))
        for entry_id in sorted(same):
            entry = self._live(entry_id)
            if entry is not None and entry.get("Pricebook2Id") == pricebook_id:
                raise SalesforceError(
                    "DUPLICATE_VALUE",
                    "This price definition already exists in this price book",
                    fields=[],
                )
        pricebook = self._live(pricebook_id)
        if pricebook is not None and not pricebook.get("IsStandard"):
            standard = [
                e
                for e in (self._live(i) for i in sorted(same))
                if e is not None and e.get("Pricebook2Id") == STANDARD_PRICEBOOK_ID
            ]
            if not standard:
                raise SalesforceError(
                    "STANDARD_PRICE_NOT_DEFINED",
                    "No standard price defined for this product",
                    fields=[],
                )

    def _find_entry(self, product_id: str, pricebook_id: str) -> str | None:
        for entry_id in self.store.lookup("PricebookEntry", "Product2Id", product_id):
            entry = self._live(entry_id)
            if entry is not None and entry.get("Pricebook2Id") == pricebook_id:
                return entry_id
        return None

    def _line(self, record: Record, current: Record | None) -> None:
        opportunity = self._live(record.get("OpportunityId"))
        if current is None:
            if not record.get("PricebookEntryId") and record.get("Product2Id"):
                pricebook = (opportunity or {}).get("Pricebook2Id") or STANDARD_PRICEBOOK_ID
                found = self._find_entry(str(record["Product2Id"]), str(pricebook))
                if found is None:
                    raise _integrity(
                        "Product2Id (the product has no entry in the price book)", "Product2Id"
                    )
                record["PricebookEntryId"] = found
            if not record.get("PricebookEntryId"):
                raise SalesforceError(
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: [PricebookEntryId]",
                    fields=["PricebookEntryId"],
                )
            entry = self._live(record["PricebookEntryId"])
            if entry is None:
                return  # the reference check says so
            if not entry.get("IsActive"):
                raise _integrity(
                    "PricebookEntryId (pricebook entry is inactive)", "PricebookEntryId"
                )
            own = (opportunity or {}).get("Pricebook2Id")
            if own and own != entry.get("Pricebook2Id"):
                raise _integrity(
                    "PricebookEntryId (pricebook entry is in a different pricebook than the "
                    "one assigned to the opportunity)",
                    "PricebookEntryId",
                )
            if record.get("Product2Id") and record["Product2Id"] != entry.get("Product2Id"):
                raise _integrity("Product2Id (it is not the price book entry's)", "Product2Id")
            product = self._live(entry.get("Product2Id")) or {}
            record["Product2Id"] = entry.get("Product2Id")
            record["ProductCode"] = product.get("ProductCode")
            record["ListPrice"] = entry.get("UnitPrice")
            names = [(opportunity or {}).get("Name"), product.get("Name")]
            record["Name"] = " ".join(str(n) for n in names if n) or None
            unit, total = record.get("UnitPrice"), record.get("TotalPrice")
            if unit is not None and total is not None:
                raise _integrity(
                    "TotalPrice (cannot specify both UnitPrice and TotalPrice)", "TotalPrice"
                )
            if unit is None and total is None:
                raise _integrity(
                    "unknown (must specify either TotalPrice or UnitPrice)", "UnitPrice"
                )
        self._prices(record, current)

    @staticmethod
    def _prices(record: Record, current: Record | None) -> None:
        quantity = float(record.get("Quantity") or 0)
        total_given = record.get("TotalPrice") is not None and (
            current is None or record.get("TotalPrice") != current.get("TotalPrice")
        )
        unit_given = current is not None and record.get("UnitPrice") != current.get("UnitPrice")
        if total_given and not unit_given:
            total = float(record["TotalPrice"])
            record["UnitPrice"] = round(total / quantity, 2) if quantity else total
        elif record.get("UnitPrice") is not None:
            record["TotalPrice"] = round(float(record["UnitPrice"]) * quantity, 2)
