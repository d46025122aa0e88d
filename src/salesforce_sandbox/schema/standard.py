"""Standard objects: Account, Contact, Opportunity, Case, Task, User, Group, Organization,
products and price books (``schema.products``),
RecordType, the duplicate management setup objects (DuplicateRule, MatchingRule,
MatchingRuleItem), and the permission model's Profile, PermissionSet, PermissionSetAssignment,
ObjectPermissions and FieldPermissions.

Only standard fields live here; stripe2sf's custom fields come from SFDX metadata.
"""

from __future__ import annotations

from salesforce_sandbox import ids
from salesforce_sandbox.schema.duplicate_rules import MATCHING_METHODS
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, PicklistValue
from salesforce_sandbox.schema.permission_set import USER_PERMISSIONS

# The seeded profiles (models.permission_sets seeds them); a user created without a ProfileId
# gets the Standard User profile.
SYSTEM_ADMINISTRATOR_PROFILE_ID = ids.make_id("00e", 1)
STANDARD_USER_PROFILE_ID = ids.make_id("00e", 2)
API_ONLY_PROFILE_ID = ids.make_id("00e", 3)


def picklist(*values: str, default: str | None = None) -> list[PicklistValue]:
    return [PicklistValue(v, v, v == default) for v in values]


def system_fields(obj: ObjectDef, owner: bool = True, owner_to: list[str] | None = None) -> None:
    """Id, IsDeleted, audit fields and (optionally) OwnerId, as every object has them."""
    obj.add(FieldDef("Id", "id", f"{obj.label} ID", length=18, createable=False, updateable=False))
    obj.add(FieldDef("IsDeleted", "boolean", "Deleted", createable=False, updateable=False))
    if owner:
        obj.add(
            FieldDef(
                "OwnerId",
                "reference",
                "Owner ID",
                length=18,
                reference_to=owner_to or ["User"],
                relationship_name="Owner",
            )
        )
    obj.add(FieldDef("CreatedDate", "datetime", "Created Date", createable=False, updateable=False))
    obj.add(
        FieldDef(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            reference_to=["User"],
            relationship_name="CreatedBy",
            createable=False,
            updateable=False,
        )
    )
    obj.add(
        FieldDef(
            "LastModifiedDate", "datetime", "Last Modified Date", createable=False, updateable=False
        )
    )
    obj.add(
        FieldDef(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            reference_to=["User"],
            relationship_name="LastModifiedBy",
            createable=False,
            updateable=False,
        )
    )
    obj.add(
        FieldDef(
            "SystemModstamp", "datetime", "System Modstamp", createable=False, updateable=False
        )
    )


def lookup(name: str, to: list[str], rel: str, child: str | None = None, **kw: object) -> FieldDef:
    return FieldDef(
        name,
        "reference",
        length=18,
        reference_to=to,
        relationship_name=rel,
        child_relationship=child,
        **kw,  # type: ignore[arg-type]
    )


def text(name: str, length: int = 255, label: str = "", **kw: object) -> FieldDef:
    return FieldDef(name, "string", label, length=length, **kw)  # type: ignore[arg-type]


def address(obj: ObjectDef, prefix: str) -> None:
    obj.add(FieldDef(f"{prefix}Street", "textarea", length=255))
    obj.add(text(f"{prefix}City", 40))
    obj.add(text(f"{prefix}State", 80))
    obj.add(text(f"{prefix}PostalCode", 20))
    obj.add(text(f"{prefix}Country", 80))


def account() -> ObjectDef:
    obj = ObjectDef("Account", "001", "Account", "Accounts")
    system_fields(obj)
    obj.add(text("Name", 255, "Account Name", required=True, indexed=True))
    obj.add(
        FieldDef(
            "Type",
            "picklist",
            "Account Type",
            length=255,
            picklist=picklist("Prospect", "Customer - Direct", "Customer - Channel", "Partner"),
        )
    )
    obj.add(lookup("ParentId", ["Account"], "Parent", "ChildAccounts", label="Parent Account ID"))
    address(obj, "Billing")
    address(obj, "Shipping")
    obj.add(FieldDef("Phone", "phone", "Account Phone", length=40))
    obj.add(FieldDef("Website", "url", length=255))
    obj.add(
        FieldDef(
            "Industry",
            "picklist",
            length=255,
            picklist=picklist("Banking", "Education", "Media", "Retail", "Technology", "Other"),
        )
    )
    obj.add(FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0))
    obj.add(FieldDef("NumberOfEmployees", "int", "Employees", precision=8))
    obj.add(FieldDef("Description", "textarea", "Account Description", length=32000))
    obj.add(
        FieldDef("LastActivityDate", "date", "Last Activity", createable=False, updateable=False)
    )
    obj.add(text("AccountNumber", 40, "Account Number"))
    return obj


def contact() -> ObjectDef:
    obj = ObjectDef("Contact", "003", "Contact", "Contacts")
    system_fields(obj)
    obj.add(lookup("AccountId", ["Account"], "Account", "Contacts", label="Account ID"))
    obj.add(text("LastName", 80, "Last Name", required=True))
    obj.add(text("FirstName", 40, "First Name"))
    obj.add(
        FieldDef(
            "Salutation",
            "picklist",
            length=40,
            picklist=picklist("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."),
        )
    )
    obj.add(
        FieldDef(
            "Name",
            "string",
            "Full Name",
            length=121,
            createable=False,
            updateable=False,
            calculated=True,
            indexed=True,
        )
    )
    obj.add(FieldDef("Email", "email", length=80, indexed=True))
    obj.add(FieldDef("Phone", "phone", "Business Phone", length=40))
    obj.add(FieldDef("MobilePhone", "phone", "Mobile Phone", length=40))
    obj.add(text("Title", 128))
    obj.add(text("Department", 80))
    address(obj, "Mailing")
    obj.add(FieldDef("Birthdate", "date"))
    obj.add(FieldDef("Description", "textarea", "Contact Description", length=32000))
    obj.add(
        FieldDef("LastActivityDate", "date", "Last Activity", createable=False, updateable=False)
    )
    obj.add(FieldDef("HasOptedOutOfEmail", "boolean", "Email Opt Out", default=False))
    return obj


def opportunity() -> ObjectDef:
    obj = ObjectDef("Opportunity", "006", "Opportunity", "Opportunities")
    system_fields(obj)
    obj.add(lookup("AccountId", ["Account"], "Account", "Opportunities", label="Account ID"))
    obj.add(text("Name", 120, required=True, indexed=True))
    obj.add(FieldDef("Description", "textarea", length=32000))
    obj.add(
        FieldDef(
            "StageName",
            "picklist",
            "Stage",
            length=255,
            required=True,
            picklist=picklist(
                "Prospecting",
                "Qualification",
                "Needs Analysis",
                "Proposal/Price Quote",
                "Negotiation/Review",
                "Closed Won",
                "Closed Lost",
            ),
        )
    )
    obj.add(FieldDef("Amount", "currency", precision=18, scale=2))
    obj.add(FieldDef("Probability", "percent", "Probability (%)", precision=3, scale=0))
    obj.add(FieldDef("CloseDate", "date", "Close Date", required=True))
    obj.add(
        FieldDef(
            "Type",
            "picklist",
            "Opportunity Type",
            length=255,
            picklist=picklist(
                "New Customer", "Existing Customer - Upgrade", "Existing Customer - Renewal"
            ),
        )
    )
    obj.add(FieldDef("IsClosed", "boolean", "Closed", createable=False, updateable=False))
    obj.add(FieldDef("IsWon", "boolean", "Won", createable=False, updateable=False))
    obj.add(
        lookup("Pricebook2Id", ["Pricebook2"], "Pricebook2", "Opportunities", label="Price Book ID")
    )
    return obj


def case() -> ObjectDef:
    obj = ObjectDef("Case", "500", "Case", "Cases")
    system_fields(obj, owner_to=["Group", "User"])
    obj.add(
        FieldDef(
            "CaseNumber",
            "string",
            "Case Number",
            length=30,
            createable=False,
            updateable=False,
            auto_number="{00000000}",
            indexed=True,
        )
    )
    obj.add(lookup("AccountId", ["Account"], "Account", "Cases", label="Account ID"))
    obj.add(lookup("ContactId", ["Contact"], "Contact", "Cases", label="Contact ID"))
    obj.add(text("Subject", 255))
    obj.add(FieldDef("Description", "textarea", length=32000))
    obj.add(
        FieldDef(
            "Status",
            "picklist",
            length=255,
            default="New",
            picklist=picklist("New", "Working", "Escalated", "Closed", default="New"),
        )
    )
    obj.add(
        FieldDef(
            "Priority",
            "picklist",
            length=255,
            default="Medium",
            picklist=picklist("High", "Medium", "Low", default="Medium"),
        )
    )
    obj.add(
        FieldDef(
            "Origin",
            "picklist",
            "Case Origin",
            length=255,
            picklist=picklist("Phone", "Email", "Web"),
        )
    )
    obj.add(
        FieldDef(
            "Type",
            "picklist",
            "Case Type",
            length=255,
            picklist=picklist("Question", "Problem", "Feature Request"),
        )
    )
    obj.add(text("Reason", 255, "Case Reason"))
    obj.add(FieldDef("IsClosed", "boolean", "Closed", createable=False, updateable=False))
    obj.add(FieldDef("IsEscalated", "boolean", "Escalated", default=False))
    return obj


def task() -> ObjectDef:
    obj = ObjectDef("Task", "00T", "Task", "Tasks")
    system_fields(obj, owner_to=["Group", "User"])
    obj.add(
        lookup("WhatId", ["Account", "Opportunity", "Case"], "What", "Tasks", label="Related To ID")
    )
    obj.add(lookup("WhoId", ["Contact"], "Who", "Tasks", label="Name ID"))
    obj.add(FieldDef("Subject", "combobox", length=255))
    obj.add(FieldDef("ActivityDate", "date", "Due Date Only"))
    obj.add(
        FieldDef(
            "Status",
            "picklist",
            length=255,
            required=True,
            default="Not Started",
            restricted=False,
            picklist=picklist(
                "Not Started",
                "In Progress",
                "Completed",
                "Waiting on someone else",
                "Deferred",
                default="Not Started",
            ),
        )
    )
    obj.add(
        FieldDef(
            "Priority",
            "picklist",
            length=40,
            required=True,
            default="Normal",
            picklist=picklist("High", "Normal", "Low", default="Normal"),
        )
    )
    obj.add(FieldDef("Description", "textarea", "Description", length=32000))
    obj.add(FieldDef("IsClosed", "boolean", "Closed", createable=False, updateable=False))
    obj.add(FieldDef("Type", "picklist", length=40, picklist=picklist("Call", "Email", "Other")))
    return obj


def user() -> ObjectDef:
    obj = ObjectDef("User", "005", "User", "Users")
    system_fields(obj, owner=False)
    obj.add(text("Username", 80, required=True, unique=True))
    obj.add(text("LastName", 80, "Last Name", required=True))
    obj.add(text("FirstName", 40, "First Name"))
    obj.add(
        FieldDef(
            "Name",
            "string",
            "Full Name",
            length=121,
            createable=False,
            updateable=False,
            calculated=True,
        )
    )
    obj.add(FieldDef("Email", "email", length=128, required=True))
    obj.add(text("Alias", 8, required=True))
    obj.add(FieldDef("IsActive", "boolean", "Active", default=True))
    obj.add(text("TimeZoneSidKey", 40, "Time Zone", default="America/Los_Angeles"))
    obj.add(text("Title", 80))
    obj.add(lookup("ManagerId", ["User"], "Manager", "ManagedUsers", label="Manager ID"))
    obj.add(
        lookup(
            "ProfileId",
            ["Profile"],
            "Profile",
            "Users",
            label="Profile ID",
            default=STANDARD_USER_PROFILE_ID,
        )
    )
    return obj


def group() -> ObjectDef:
    obj = ObjectDef("Group", "00G", "Group", "Groups")
    system_fields(obj, owner_to=["User"])
    obj.add(text("Name", 40, required=True))
    obj.add(text("DeveloperName", 80, "Developer Name", indexed=True))
    obj.add(
        FieldDef(
            "Type",
            "picklist",
            length=40,
            default="Regular",
            restricted=True,
            picklist=picklist("Regular", "Queue", "Role", "Organization", default="Regular"),
        )
    )
    obj.add(FieldDef("Email", "email", length=255))
    return obj


def organization() -> ObjectDef:
    obj = ObjectDef(
        "Organization",
        "00D",
        "Organization",
        "Organizations",
        createable=False,
        updateable=False,
        deletable=False,
    )
    system_fields(obj, owner=False)
    obj.add(text("Name", 80, createable=False, updateable=False))
    obj.add(text("InstanceName", 5, createable=False, updateable=False))
    obj.add(FieldDef("IsSandbox", "boolean", createable=False, updateable=False))
    obj.add(text("OrganizationType", 40, createable=False, updateable=False))
    obj.add(text("NamespacePrefix", 15, createable=False, updateable=False))
    obj.add(FieldDef("TrialExpirationDate", "datetime", createable=False, updateable=False))
    return obj


def record_type() -> ObjectDef:
    """Record types of every object (rows come from org features and metadata; an org without
    any has none). Read by every user; written only through setup (metadata)."""
    obj = ObjectDef(
        "RecordType",
        "012",
        "Record Type",
        "Record Types",
        createable=False,
        updateable=False,
        deletable=False,
    )
    system_fields(obj, owner=False)
    obj.add(text("Name", 80, "Record Type Name", required=True))
    obj.add(text("DeveloperName", 80, "Record Type Name", required=True, indexed=True))
    obj.add(text("NamespacePrefix", 15, "Namespace Prefix", createable=False, updateable=False))
    obj.add(FieldDef("Description", "string", length=255))
    obj.add(
        FieldDef(
            "SobjectType", "picklist", "SObject Type Name", length=40, required=True, indexed=True
        )
    )
    obj.add(FieldDef("IsActive", "boolean", "Active", default=True))
    obj.add(
        FieldDef("IsPersonType", "boolean", "Is Person Type", createable=False, updateable=False)
    )
    return obj


def _permission_flags(obj: ObjectDef) -> None:
    for name in USER_PERMISSIONS:
        obj.add(FieldDef(f"Permissions{name}", "boolean", name))


def profile() -> ObjectDef:
    obj = ObjectDef(
        "Profile", "00e", "Profile", "Profile", createable=False, updateable=False, deletable=False
    )
    system_fields(obj, owner=False)
    obj.add(text("Name", 255, required=True, indexed=True))
    obj.add(FieldDef("Description", "textarea", length=255))
    obj.add(
        FieldDef(
            "UserType",
            "picklist",
            "User Type",
            length=40,
            default="Standard",
            picklist=picklist("Standard", "PowerPartner", "CspLitePortal", default="Standard"),
        )
    )
    return obj


def permission_set() -> ObjectDef:
    obj = ObjectDef("PermissionSet", "0PS", "Permission Set", "Permission Sets")
    system_fields(obj, owner=False)
    obj.add(text("Name", 80, required=True, indexed=True))
    obj.add(text("Label", 80, required=True))
    obj.add(FieldDef("Description", "textarea", length=255))
    obj.add(text("NamespacePrefix", 15, "Namespace Prefix", createable=False, updateable=False))
    obj.add(
        FieldDef(
            "IsOwnedByProfile", "boolean", "Is Owned By Profile", createable=False, updateable=False
        )
    )
    obj.add(
        FieldDef("IsCustom", "boolean", "Custom", default=True, createable=False, updateable=False)
    )
    obj.add(
        lookup(
            "ProfileId",
            ["Profile"],
            "Profile",
            None,
            label="Profile ID",
            createable=False,
            updateable=False,
            indexed=True,
        )
    )
    obj.add(
        FieldDef(
            "Type",
            "picklist",
            length=40,
            default="Regular",
            createable=False,
            updateable=False,
            picklist=picklist("Regular", "Profile", "Group", "Session", default="Regular"),
        )
    )
    obj.add(FieldDef("HasActivationRequired", "boolean", "Session Activation Required"))
    _permission_flags(obj)
    return obj


def permission_set_assignment() -> ObjectDef:
    obj = ObjectDef(
        "PermissionSetAssignment",
        "0Pa",
        "Permission Set Assignment",
        "Permission Set Assignments",
    )
    obj.add(
        FieldDef(
            "Id",
            "id",
            "Permission Set Assignment ID",
            length=18,
            createable=False,
            updateable=False,
        )
    )
    obj.add(
        lookup(
            "AssigneeId",
            ["User"],
            "Assignee",
            "PermissionSetAssignments",
            label="Assignee ID",
            required=True,
            updateable=False,
        )
    )
    obj.add(
        lookup(
            "PermissionSetId",
            ["PermissionSet"],
            "PermissionSet",
            "Assignments",
            label="Permission Set ID",
            required=True,
            updateable=False,
        )
    )
    obj.add(
        FieldDef(
            "IsActive", "boolean", "Is Active", default=True, createable=False, updateable=False
        )
    )
    obj.add(FieldDef("ExpirationDate", "datetime", "Expiration Date"))
    obj.add(
        FieldDef(
            "SystemModstamp", "datetime", "System Modstamp", createable=False, updateable=False
        )
    )
    return obj


def _parent_lookup(child: str) -> FieldDef:
    return lookup(
        "ParentId",
        ["PermissionSet"],
        "Parent",
        child,
        label="Parent ID",
        required=True,
        updateable=False,
    )


def _rights(obj: ObjectDef, *names: str) -> None:
    for name in names:
        obj.add(FieldDef(f"Permissions{name}", "boolean", name))


def object_permissions() -> ObjectDef:
    obj = ObjectDef("ObjectPermissions", "110", "Object Permissions", "Object Permissions")
    system_fields(obj, owner=False)
    obj.add(_parent_lookup("ObjectPerms"))
    obj.add(
        FieldDef(
            "SobjectType",
            "picklist",
            "SObject Type Name",
            length=40,
            required=True,
            updateable=False,
        )
    )
    _rights(obj, "Read", "Create", "Edit", "Delete", "ViewAllRecords", "ModifyAllRecords")
    return obj


def field_permissions() -> ObjectDef:
    obj = ObjectDef("FieldPermissions", "01k", "Field Permissions", "Field Permissions")
    system_fields(obj, owner=False)
    obj.add(_parent_lookup("FieldPerms"))
    obj.add(
        FieldDef(
            "SobjectType",
            "picklist",
            "SObject Type Name",
            length=40,
            required=True,
            updateable=False,
        )
    )
    obj.add(FieldDef("Field", "picklist", "Field Name", length=80, required=True, updateable=False))
    _rights(obj, "Read", "Edit")
    return obj


def _setup_object(name: str, prefix: str, label: str, plural: str) -> ObjectDef:
    """An object Salesforce fills from setup (metadata); the API only reads it."""
    obj = ObjectDef(
        name, prefix, label, plural, createable=False, updateable=False, deletable=False
    )
    system_fields(obj, owner=False)
    return obj


def duplicate_rule() -> ObjectDef:
    """Duplicate rules (``schema.duplicate_rules``): rows written as rules are deployed."""
    obj = _setup_object("DuplicateRule", "0Bm", "Duplicate Rule", "Duplicate Rules")
    obj.add(text("DeveloperName", 80, "Rule Name", required=True, indexed=True))
    obj.add(text("MasterLabel", 80, "Rule Name", required=True))
    obj.add(text("NamespacePrefix", 15, "Namespace Prefix"))
    obj.add(FieldDef("SobjectType", "picklist", "Object", length=40, required=True, indexed=True))
    obj.add(text("SobjectSubtype", 40, "Object Subtype"))
    obj.add(FieldDef("IsActive", "boolean", "Active", default=False))
    obj.add(text("Language", 40))
    return obj


def matching_rule() -> ObjectDef:
    obj = _setup_object("MatchingRule", "0JD", "Matching Rule", "Matching Rules")
    obj.add(text("DeveloperName", 80, "Rule Name", required=True, indexed=True))
    obj.add(text("MasterLabel", 80, "Rule Name", required=True))
    obj.add(text("NamespacePrefix", 15, "Namespace Prefix"))
    obj.add(FieldDef("SobjectType", "picklist", "Object", length=40, required=True, indexed=True))
    obj.add(text("SobjectSubtype", 40, "Object Subtype"))
    obj.add(
        FieldDef(
            "RuleStatus",
            "picklist",
            "Status",
            length=40,
            picklist=picklist(
                "Inactive", "Active", "Activating", "Deactivating", "DeactivationFailed"
            ),
        )
    )
    obj.add(text("MatchEngine", 40, "Match Engine"))
    obj.add(text("BooleanFilter", 255, "Filter Logic"))
    obj.add(FieldDef("Description", "textarea", length=1000))
    return obj


def matching_rule_item() -> ObjectDef:
    obj = _setup_object("MatchingRuleItem", "0JE", "Matching Rule Item", "Matching Rule Items")
    obj.add(
        lookup(
            "MatchingRuleId",
            ["MatchingRule"],
            "MatchingRule",
            "MatchingRuleItems",
            label="Matching Rule ID",
            required=True,
        )
    )
    obj.add(FieldDef("Field", "picklist", length=80))
    obj.add(
        FieldDef(
            "MatchingMethod",
            "picklist",
            "Matching Method",
            length=40,
            picklist=picklist(*MATCHING_METHODS),
        )
    )
    obj.add(
        FieldDef(
            "BlankValueBehavior",
            "picklist",
            "Blank Value Behavior",
            length=40,
            picklist=picklist("MatchBlanks", "NullNotAllowed", default="NullNotAllowed"),
        )
    )
    obj.add(FieldDef("SortOrder", "int", "Sort Order", precision=9))
    return obj


def crm_objects() -> list[ObjectDef]:
    """The CRM and setup objects; `schema.objects.standard_objects` adds products and price
    books (`schema.products`, which builds on this module)."""
    return [
        account(),
        contact(),
        opportunity(),
        case(),
        task(),
        user(),
        group(),
        organization(),
        record_type(),
        duplicate_rule(),
        matching_rule(),
        matching_rule_item(),
        profile(),
        permission_set(),
        permission_set_assignment(),
        object_permissions(),
        field_permissions(),
    ]
