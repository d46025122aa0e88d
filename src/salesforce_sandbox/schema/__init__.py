"""Schema of the org: sObject and field definitions, standard objects, SFDX metadata."""

from salesforce_sandbox.schema.model import FieldDef, ObjectDef, PicklistValue, Schema

__all__ = ["FieldDef", "ObjectDef", "PicklistValue", "Schema"]
