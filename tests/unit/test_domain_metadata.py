"""SFDX metadata, permission sets and the mapping document."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from stripe2sf.domain import soql
from stripe2sf.domain.batch.lookups import queries as lookup_queries
from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.context import FieldNames, Lookup, LookupKind
from stripe2sf.domain.reconcile.drift import soql_queries
from stripe2sf.domain.setup.access import (
    DEFAULT_CAPTURED,
    captured_objects,
    fls_governed,
    integration_access,
    objects_to_capture,
)
from stripe2sf.domain.setup.mapping_doc import to_csv, to_markdown
from stripe2sf.domain.setup.metadata import generate_metadata
from stripe2sf.domain.setup.needs import needs
from stripe2sf.domain.setup.schema import check_against_describe, required_fields

NS = "{http://soap.sforce.com/2006/04/metadata}"
BASE = "force-app/main/default"


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode())


def test_project_layout_and_wellformed_xml() -> None:
    files = generate_metadata(SyncConfig())
    project = json.loads(files["sfdx-project.json"])
    assert project["packageDirectories"][0]["path"] == "force-app"
    for path, text in files.items():
        if path.endswith(".xml"):
            root = parse(text)
            assert root.tag.startswith(NS)
            if path.endswith(".field-meta.xml"):
                assert root.find(f"{NS}fullName").text == path.rsplit("/", 1)[1].split(".")[0]  # type: ignore[union-attr]


def test_external_id_fields() -> None:
    files = generate_metadata(SyncConfig())
    for obj in ("Account", "Contact"):
        root = parse(files[f"{BASE}/objects/{obj}/fields/Stripe_Customer_Id__c.field-meta.xml"])
        assert root.findtext(f"{NS}externalId") == "true"
        assert root.findtext(f"{NS}unique") == "true"
    pay = parse(
        files[f"{BASE}/objects/Stripe_Payment__c/fields/Stripe_Charge_Id__c.field-meta.xml"]
    )
    assert pay.findtext(f"{NS}externalId") == "true"
    task_key = parse(files[f"{BASE}/objects/Activity/fields/Stripe_Dedupe_Key__c.field-meta.xml"])
    assert task_key.findtext(f"{NS}externalId") == "true"
    assert f"{BASE}/objects/Case/fields/Stripe_Dedupe_Key__c.field-meta.xml" in files


def test_picklists_and_object() -> None:
    files = generate_metadata(SyncConfig())
    status = parse(files[f"{BASE}/objects/Account/fields/Subscription_Status__c.field-meta.xml"])
    values = [v.findtext(f"{NS}fullName") for v in status.iter(f"{NS}value")]
    assert values == [
        "Active",
        "Trialing",
        "Past Due",
        "Unpaid",
        "Canceled",
        "Incomplete",
        "Paused",
    ]
    billing = parse(files[f"{BASE}/objects/Account/fields/Billing_Status__c.field-meta.xml"])
    assert [v.findtext(f"{NS}fullName") for v in billing.iter(f"{NS}value")] == [
        "Current",
        "Payment Overdue",
        "At Risk",
    ]
    obj = parse(files[f"{BASE}/objects/Stripe_Payment__c/Stripe_Payment__c.object-meta.xml"])
    assert obj.findtext(f"{NS}nameField/{NS}type") == "AutoNumber"
    amount = parse(files[f"{BASE}/objects/Stripe_Payment__c/fields/Amount__c.field-meta.xml"])
    assert (amount.findtext(f"{NS}type"), amount.findtext(f"{NS}scale")) == ("Number", "3")
    lookup = parse(files[f"{BASE}/objects/Stripe_Payment__c/fields/Account__c.field-meta.xml"])
    assert lookup.findtext(f"{NS}referenceTo") == "Account"


def _perms(files: dict[str, str], name: str) -> dict[str, bool]:
    root = parse(files[f"{BASE}/permissionsets/{name}.permissionset-meta.xml"])
    return {
        fp.findtext(f"{NS}field") or "": fp.findtext(f"{NS}editable") == "true"
        for fp in root.iter(f"{NS}fieldPermissions")
    }


def _objects(files: dict[str, str], name: str) -> dict[str, tuple[str, ...]]:
    """object -> the rights granted (allowRead, allowCreate, ..., viewAllRecords) that are true."""
    root = parse(files[f"{BASE}/permissionsets/{name}.permissionset-meta.xml"])
    return {
        op.findtext(f"{NS}object") or "": tuple(
            child.tag.removeprefix(NS) for child in op if child.text == "true"
        )
        for op in root.iter(f"{NS}objectPermissions")
    }


def _user_permissions(files: dict[str, str], name: str) -> set[str]:
    root = parse(files[f"{BASE}/permissionsets/{name}.permissionset-meta.xml"])
    return {
        up.findtext(f"{NS}name") or ""
        for up in root.iter(f"{NS}userPermissions")
        if up.findtext(f"{NS}enabled") == "true"
    }


UPSERT_RIGHTS = ("allowCreate", "allowEdit", "allowRead")


def test_integration_set_upserts_its_objects_and_never_deletes() -> None:
    files = generate_metadata(SyncConfig())
    assert _objects(files, "Stripe2sf_Integration") == {
        "Account": UPSERT_RIGHTS,
        "Contact": UPSERT_RIGHTS,
        "Case": UPSERT_RIGHTS,  # disputes
        "Stripe_Payment__c": UPSERT_RIGHTS,
    }
    # Task has no object permissions: dunning and review Tasks take "Edit Tasks";
    # GET /limits (API budget, status, doctor) takes "View Setup and Configuration"
    assert _user_permissions(files, "Stripe2sf_Integration") == {"EditTask", "ViewSetup"}
    integ = _perms(files, "Stripe2sf_Integration")
    assert all(integ.values())  # every field it lists, it writes
    standard = {f for f in integ if not f.endswith("__c")}
    assert standard == {
        "Contact.Email",
        "Contact.FirstName",
        "Contact.AccountId",
        "Case.AccountId",
        "Case.ContactId",
        "Case.Subject",
        "Case.Description",
        "Case.Priority",
        "Case.Status",
        "Case.Origin",
    }
    for never in ("Account.Name", "Contact.LastName", "Account.OwnerId", "Task.Subject"):
        assert never not in integ  # required, owner and activity fields: no FLS
    assert not any(f.startswith(("Account.Description", "Account.Website")) for f in integ)
    custom = {f for f in integ if f.endswith("__c")}
    expected = {
        name
        for spec in required_fields(SyncConfig())
        for name in (
            [f"Task.{spec.name}", f"Event.{spec.name}"]
            if spec.metadata_object == "Activity"
            else [f"{spec.sobject}.{spec.name}"]
        )
    }
    assert custom == expected


def test_integration_set_follows_the_configuration() -> None:
    by_domain = integration_access(from_toml_text("[matching]\nby_domain = true\n"))
    assert by_domain.fields["Account.Website"] is False  # read to match, never written
    assert by_domain.notes["Account.Website"] == "Accounts are matched by domain"
    no_cases = integration_access(from_toml_text("[disputes]\nenabled = false\n"))
    assert "Case" not in no_cases.objects
    assert not any(f.startswith("Case.") for f in no_cases.fields)
    cases = integration_access(
        from_toml_text(
            '[disputes]\nenabled = false\n[failed_payments]\nrecord = "case"\n'
            'owner = "queue"\nqueue = "Billing"\n'
        )
    )
    assert cases.objects["Case"].create and cases.fields["Case.Stripe_Resolved_At__c"]
    assert cases.fields["Task.Stripe_Dedupe_Key__c"]  # review Tasks still need their key
    assert "Task.Stripe_Resolved_At__c" not in cases.fields
    phone = integration_access(
        from_toml_text(
            '[ownership]\n"Contact.Phone" = "stripe"\n'
            '[[mappings]]\nsource = "customer.phone"\ntarget = "Contact.Phone"\n'
        )
    )
    assert phone.fields["Contact.Phone"] is True
    subs = integration_access(from_toml_text("[subscriptions]\nper_subscription_records = true\n"))
    assert subs.objects["Stripe_Subscription__c"].edit
    assert subs.fields["Stripe_Subscription__c.Subscription_Status__c"] is True
    renamed = integration_access(
        from_toml_text('[objects]\nbilling_status_field = "Dunning_State__c"\n')
    )
    assert renamed.fields["Account.Dunning_State__c"] and "Account.Billing_Status__c" not in (
        renamed.fields
    )


def _members(files: dict[str, str]) -> list[str]:
    return sorted(
        parse(t).findtext(f"{NS}selectedEntity") or ""
        for p, t in files.items()
        if "/platformEventChannelMembers/" in p
    )


def test_view_all_records_only_on_the_objects_whose_changes_are_captured() -> None:
    # both directions off: nothing captured, no View All anywhere, no channel member
    off = generate_metadata(SyncConfig())
    for name in ("Stripe2sf_Integration", "Stripe2sf_Viewer", "Stripe2sf_Finance"):
        assert not any("viewAllRecords" in rights for rights in _objects(off, name).values())
    assert captured_objects(SyncConfig()) == ()
    assert _members(off) == []
    # Salesforce -> Stripe: Change Data Capture of Account and Contact takes View All Records
    config = from_toml_text("[salesforce_to_stripe]\nenabled = true\n")
    assert captured_objects(config) == ("Account", "Contact")
    files = generate_metadata(config)
    objects = _objects(files, "Stripe2sf_Integration")
    assert objects["Account"] == (*UPSERT_RIGHTS, "viewAllRecords")
    assert objects["Contact"] == (*UPSERT_RIGHTS, "viewAllRecords")
    assert objects["Stripe_Payment__c"] == UPSERT_RIGHTS  # not captured: read, no View All
    assert not any("modifyAllRecords" in rights for rights in objects.values())
    assert _members(files) == ["AccountChangeEvent", "ContactChangeEvent"]
    # the fields a change must carry to reach Stripe are readable (field-level security
    # filters change events); Salesforce owns them, so they stay read only
    fields = _perms(files, "Stripe2sf_Integration")
    for name in ("Contact.Phone", "Account.BillingStreet", "Account.BillingCountry"):
        assert fields[name] is False
    assert fields["Contact.AccountId"] is True  # written too: edit stays
    wanted = {(n.sobject, n.field): n for n in needs(config)}
    assert wanted[("Contact", "Phone")].rights == {"read"}
    assert "sent to Stripe as customer phone" in wanted[("Contact", "Phone")].why
    # capture follows these when STRIPE2SF_CAPTURE_OBJECTS is unset; with none, the defaults
    assert objects_to_capture(config) == ("Account", "Contact")
    assert objects_to_capture(SyncConfig()) == objects_to_capture(None) == DEFAULT_CAPTURED
    both = from_toml_text(
        "[salesforce_to_stripe]\nenabled = true\n[actions]\nenabled = true\nrequests = true\n"
    )
    assert objects_to_capture(both) == ("Account", "Contact", "Opportunity", "Stripe_Request__c")
    # a dropped mapping is not read
    no_phone = from_toml_text('[salesforce_to_stripe]\nenabled = true\nfields = { phone = "" }\n')
    assert "Contact.Phone" not in integration_access(no_phone).fields
    # the viewer and finance sets never get View All
    for name in ("Stripe2sf_Viewer", "Stripe2sf_Finance"):
        assert not any("viewAllRecords" in rights for rights in _objects(files, name).values())


def test_viewer_reads_two_status_fields_and_finance_reads_payments() -> None:
    files = generate_metadata(SyncConfig())
    viewer = _perms(files, "Stripe2sf_Viewer")
    assert viewer == {"Account.Subscription_Status__c": False, "Account.Billing_Status__c": False}
    assert _objects(files, "Stripe2sf_Viewer") == {"Account": ("allowRead",)}
    assert _user_permissions(files, "Stripe2sf_Viewer") == set()
    finance = _perms(files, "Stripe2sf_Finance")
    assert not any(finance.values())
    payment_fields = {
        f"Stripe_Payment__c.{s.name}"
        for s in required_fields(SyncConfig())
        if s.sobject == "Stripe_Payment__c"
    }
    assert payment_fields <= set(finance)
    assert {f for f in finance if f.startswith("Account.")} == {
        "Account.Stripe_Customer_Id__c",
        "Account.Subscription_Status__c",
        "Account.Subscription_Plan__c",
        "Account.Subscription_Quantity__c",
        "Account.MRR__c",
        "Account.Current_Period_End__c",
        "Account.Cancel_At_Period_End__c",
        "Account.Billing_Status__c",
    }
    assert _objects(files, "Stripe2sf_Finance") == {
        "Account": ("allowRead",),
        "Stripe_Payment__c": ("allowRead",),
    }


def _sandbox_schema(cfg: SyncConfig) -> Any:
    from salesforce_sandbox.schema import sfdx
    from salesforce_sandbox.schema.model import Schema
    from salesforce_sandbox.schema.objects import standard_objects

    schema = Schema(standard_objects())
    sfdx.apply(schema, sfdx.parse_files(generate_metadata(cfg)), 1)
    return schema


def _referenced(query: str, schema: Any) -> set[tuple[str, str]]:
    """(object, field) of every field a SOQL text selects, filters or sorts on."""
    from salesforce_sandbox.soql import ast
    from salesforce_sandbox.soql.parser import parse

    tree = parse(query)
    refs: list[list[str]] = [i.path for i in tree.items if isinstance(i, ast.FieldRef)]
    refs += [o.field.path for o in tree.order_by if isinstance(o.field, ast.FieldRef)]
    pending: list[ast.Cond] = [tree.where] if tree.where else []
    while pending:
        cond = pending.pop()
        if isinstance(cond, ast.Compare):
            refs.append(cond.field.path)
        elif isinstance(cond, ast.BoolOp):
            pending += cond.items
        else:
            pending.append(cond.item)
    out: set[tuple[str, str]] = set()
    for path in refs:
        sobject = tree.sobject
        for hop in path[:-1]:  # a parent field: the lookup, then the parent's field
            lookup = schema.get(sobject).by_relationship(hop)
            out.add((sobject, lookup.name))
            sobject = lookup.reference_to[0]
        out.add((sobject, path[-1]))
    return out


CONFIGS = (
    "",
    "[matching]\nby_domain = true\n",
    '[failed_payments]\nrecord = "case"\nowner = "queue"\nqueue = "Billing"\n',
    "[subscriptions]\nper_subscription_records = true\n",
)


@pytest.mark.parametrize("text", CONFIGS)
def test_integration_set_covers_every_field_stripe2sf_reads(text: str) -> None:
    """Each field the flows' lookups and reconcile select or filter on, that field-level
    security governs in the local org, is readable in Stripe2sf_Integration."""
    from salesforce_sandbox.schema.permission_set import permissionable

    cfg = from_toml_text(text)
    schema = _sandbox_schema(cfg)
    access = integration_access(cfg)
    o = cfg.objects
    names = FieldNames(
        o.customer_id_field, o.dedupe_key_field, o.billing_status_field, cfg.matching.domain_field
    )
    queries = [
        soql.account_by_customer(o.customer_id_field, o.billing_status_field, "cus_1"),
        soql.contact_by_customer(o.customer_id_field, "cus_1"),
        soql.contacts_by_email(o.customer_id_field, "a@b.example"),
        soql.open_dunning(cfg.dunning_object(), o.dedupe_key_field, "in_1"),
        soql.review_task(o.dedupe_key_field, "cus_1"),
        soql.queue_by_name("Billing"),
        *soql_queries(cfg).values(),
        *(q.soql for q in lookup_queries(_two_of_each_lookup(), names)),
    ]
    if cfg.matching.by_domain:
        queries.append(soql.accounts_by_domain(cfg.matching.domain_field, "acme.example"))
    checked = set()
    for query in queries:
        for sobject, name in _referenced(query, schema):
            definition = schema.get(sobject).field(name)
            assert definition is not None, (query, sobject, name)
            governed = permissionable(sobject, definition)
            assert governed == fls_governed(sobject, name), (sobject, name)
            if governed:
                assert access.readable(f"{sobject}.{name}"), (query, sobject, name)
                checked.add(f"{sobject}.{name}")
    assert {"Contact.Email", "Account.Subscription_Status__c", "Contact.AccountId"} <= checked


def _two_of_each_lookup() -> list[Lookup]:
    return [
        Lookup(kind, key)
        for kind in (
            LookupKind.SF_ACCOUNT_BY_CUSTOMER,
            LookupKind.SF_CONTACT_BY_CUSTOMER,
            LookupKind.SF_CONTACTS_BY_EMAIL,
        )
        for key in ("cus_1@x.example", "cus_2@x.example")
    ]


@pytest.mark.parametrize("text", CONFIGS)
def test_every_granted_field_deploys_and_every_write_is_granted(text: str) -> None:
    """The local org's rules (those of Salesforce): a permission set names only fields
    field-level security governs (never required ones); and stripe2sf may write every
    governed field the planner wires or a mapping targets."""
    from salesforce_sandbox.schema.permission_set import (
        check_against,
        parse_permission_set,
        permissionable,
    )

    cfg = from_toml_text(text)
    schema = _sandbox_schema(cfg)
    files = generate_metadata(cfg)
    for name in ("Stripe2sf_Integration", "Stripe2sf_Viewer", "Stripe2sf_Finance"):
        spec = parse_permission_set(
            name, files[f"{BASE}/permissionsets/{name}.permissionset-meta.xml"]
        )
        check_against(spec, schema)
        for grant in spec.fields:
            obj = schema.get(grant.object)
            if obj is None:  # Event: not modelled by the local org
                assert grant.object == "Event"
                continue
            definition = obj.field(grant.name)
            assert definition is not None and permissionable(grant.object, definition), grant
        assert not any(g.delete or g.view_all or g.modify_all for g in spec.objects)
    access = integration_access(cfg)
    written: set[tuple[str, str]] = {(s.sobject, s.name) for s in required_fields(cfg)}
    for sobject, fields in cfg.structural_fields().items():
        if sobject in access.objects or sobject == "Task":
            written |= {(sobject, f) for f in fields if not f.endswith("__c")}
    written |= {
        (m.target_object, m.target_field)
        for m in cfg.effective_mappings
        if cfg.owner_of(m.target_object, m.target_field) != "salesforce"
    }
    for sobject, name in written:
        if sobject == "Case" and "Case" not in access.objects:
            continue
        definition = schema.get(sobject).field(name)
        assert definition is not None, (sobject, name)
        if permissionable(sobject, definition):
            assert access.editable(f"{sobject}.{name}"), (sobject, name)


def _view(files: dict[str, str], path: str) -> ET.Element:
    return parse(files[f"{BASE}/{path}"])


def test_list_views_for_collections_and_finance() -> None:
    files = generate_metadata(SyncConfig())
    past_due = _view(files, "objects/Account/listViews/Stripe_Past_Due.listView-meta.xml")
    assert past_due.findtext(f"{NS}label") == "Stripe - Past Due"
    assert past_due.findtext(f"{NS}fullName") == "Stripe_Past_Due"
    assert [
        (f.findtext(f"{NS}field"), f.findtext(f"{NS}operation"), f.findtext(f"{NS}value"))
        for f in past_due.iter(f"{NS}filters")
    ] == [("Subscription_Status__c", "equals", "Past Due")]
    assert past_due.findtext(f"{NS}filterScope") == "Everything"
    overdue = _view(files, "objects/Account/listViews/Stripe_Payment_Overdue.listView-meta.xml")
    assert overdue.findtext(f"{NS}filters/{NS}value") == "Payment Overdue"
    assert overdue.findtext(f"{NS}filters/{NS}field") == "Billing_Status__c"
    recent = _view(
        files, "objects/Stripe_Payment__c/listViews/Stripe_Last_30_Days.listView-meta.xml"
    )
    assert recent.findtext(f"{NS}filters/{NS}field") == "Paid_At__c"
    assert recent.findtext(f"{NS}filters/{NS}value") == "LAST_N_DAYS:30"
    assert "Amount__c" in [c.text for c in recent.iter(f"{NS}columns")]
    # a renamed status picklist value follows the mapping
    cfg = from_toml_text(
        '[[mappings]]\nsource = "subscription.status"\ntarget = "Account.Subscription_Status__c"'
        '\ntransform = "picklist"\nvalues = { past_due = "Overdue", active = "Active" }\n'
    )
    renamed = _view(
        generate_metadata(cfg), "objects/Account/listViews/Stripe_Past_Due.listView-meta.xml"
    )
    assert renamed.findtext(f"{NS}filters/{NS}value") == "Overdue"


def test_account_layout_is_a_separate_named_layout() -> None:
    files = generate_metadata(SyncConfig())
    assert f"{BASE}/layouts/Account-Account Layout.layout-meta.xml" not in files
    layout = _view(files, "layouts/Account-Stripe Account Layout.layout-meta.xml")
    sections = {s.findtext(f"{NS}label"): s for s in layout.iter(f"{NS}layoutSections")}
    assert list(sections) == ["Account Information", "Stripe", "System Information"]
    items = {
        i.findtext(f"{NS}field"): i.findtext(f"{NS}behavior")
        for i in sections["Stripe"].iter(f"{NS}layoutItems")
    }
    account_fields = {s.name for s in required_fields(SyncConfig()) if s.sobject == "Account"}
    assert set(items) == account_fields and set(items.values()) == {"Readonly"}
    name = next(i for i in layout.iter(f"{NS}layoutItems") if i.findtext(f"{NS}field") == "Name")
    assert name.findtext(f"{NS}behavior") == "Required"
    related = {r.findtext(f"{NS}relatedList"): r for r in layout.iter(f"{NS}relatedLists")}
    payments = related["Stripe_Payment__c.Account__c"]
    assert payments.findtext(f"{NS}sortField") == "Paid_At__c"
    assert payments.findtext(f"{NS}sortOrder") == "Desc"
    assert "RelatedContactList" in related and "RelatedActivityList" in related


def test_config_drives_metadata() -> None:
    cfg = from_toml_text(
        "[subscriptions]\nper_subscription_records = true\n"
        '[[mappings]]\nsource = "customer.metadata.tier"\ntarget = "Account.Tier__c"\n'
    )
    files = generate_metadata(cfg)
    assert f"{BASE}/objects/Stripe_Subscription__c/Stripe_Subscription__c.object-meta.xml" in files
    assert f"{BASE}/objects/Account/fields/Tier__c.field-meta.xml" in files


def test_check_against_describe_explains_missing_fields() -> None:
    cfg = SyncConfig()
    describe = {s.sobject: {s.name} for s in required_fields(cfg)}
    complete: dict[str, set[str]] = {}
    for spec in required_fields(cfg):
        complete.setdefault(spec.sobject, set()).add(spec.name)
    complete["Contact"] |= {"Email", "FirstName", "LastName"}
    complete["Account"] |= {"Name"}
    assert check_against_describe(cfg, complete) == []
    complete["Account"].discard("Billing_Status__c")
    (msg,) = check_against_describe(cfg, complete)
    assert msg.startswith("Account.Billing_Status__c: field missing; expected Picklist")
    assert describe  # sanity


def test_mapping_document_csv_and_markdown() -> None:
    cfg = SyncConfig()
    rows = list(csv.DictReader(io.StringIO(to_csv(cfg))))
    amount = next(r for r in rows if r["salesforce_field"] == "Stripe_Payment__c.Amount__c")
    assert amount["stripe_source"] == "charge.amount" and amount["transform"] == "money"
    assert "JPY" in amount["note"]
    name = next(r for r in rows if r["salesforce_field"] == "Account.Name")
    assert name["owner"] == "create_only"
    assert any(r["owner"] == "salesforce" for r in rows)
    md = to_markdown(cfg)
    assert md.startswith("# stripe2sf field mapping")
    assert "| charge.amount |" in md


def test_generated_metadata_loads_into_the_salesforce_sandbox_schema() -> None:
    """Interop: the local org (salesforce_sandbox) accepts what `stripe2sf metadata` writes."""
    from salesforce_sandbox.schema import sfdx
    from salesforce_sandbox.schema.model import Schema
    from salesforce_sandbox.schema.objects import standard_objects

    schema = Schema(standard_objects())
    cfg = from_toml_text("[subscriptions]\nper_subscription_records = true\n")
    changed = sfdx.apply(schema, sfdx.parse_files(generate_metadata(cfg)), 1)
    assert "Stripe_Payment__c" in changed and "Task.Stripe_Dedupe_Key__c" in changed
    for spec in required_fields(cfg):
        obj = schema.get(spec.sobject)
        assert obj is not None and obj.field(spec.name) is not None, spec
    account = schema.get("Account")
    assert account is not None
    key = account.field("Stripe_Customer_Id__c")
    assert key is not None and key.external_id and key.unique
