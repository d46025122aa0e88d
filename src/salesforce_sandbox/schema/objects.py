"""Every standard object a new org has: the CRM and setup objects (`schema.standard`) and
products and price books (`schema.products`)."""

from __future__ import annotations

from salesforce_sandbox.schema.model import ObjectDef
from salesforce_sandbox.schema.products import product_objects
from salesforce_sandbox.schema.standard import crm_objects


def standard_objects() -> list[ObjectDef]:
    return [*crm_objects(), *product_objects()]
