"""What each kind of Salesforce user needs to see and change, derived from the configuration.

Three roles, each a permission set `metadata` generates (least privilege: read, create and
edit, never delete, never "Modify All"; "View All Records" only where Change Data Capture asks
for it, see `captured_objects`):

* `integration_access`: the integration user stripe2sf logs in as. Read/create/edit on the
  objects it upserts (Account, Contact, the payment object, Case when disputes or failed
  payments open Cases, the per-subscription object when on); read/edit on every field it
  writes (custom fields of `schema.required_fields`, the structural fields the planner wires,
  mapped standard fields Stripe owns) and read on the fields its lookups match on (Contact
  Email, the Account domain field when matching by domain). User permissions: "Edit Tasks"
  (dunning and review Tasks: Task and Event have no object permissions) and "View Setup and
  Configuration" (GET /limits, which the API budget, `status` and `doctor` read). With
  `[org] account_model = "person"`, the person account record type (a person account's
  person fields follow their Contact fields' grants). When stripe2sf reads Salesforce changes
  (`captured_objects`), View All Records on exactly those objects and read on the fields it
  reads from them (`captured_fields`).
* `viewer_access`: reads the subscription and billing status of Accounts; nothing else.
* `finance_access`: reads the payment object (every field stripe2sf writes there), and on
  Account the Stripe customer id, the subscription fields and the billing status.

Field-level security does not govern every field (`fls_governed`): record ids, names, owners,
audit and system-computed fields, CurrencyIsoCode (multi-currency orgs) and fields required
on create (Account.Name, Contact.LastName) cannot appear in a permission set (Salesforce
refuses "You cannot deploy to a required field"); they follow their object; so do the fields
of setup objects (User, Group, ...), which every API user reads. Standard Task and Event
fields follow "Edit Tasks"/"Edit Events"; their custom fields are defined on Activity and
granted as Task.X and Event.X.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stripe2sf.domain.actions.schema import REQUEST_INPUT_FIELDS, action_fields, change_entities
from stripe2sf.domain.actions.subjects import (
    CONTACT_ROLE,
    LINE_ITEM,
    OPPORTUNITY,
    PRODUCT,
    REQUEST,
)
from stripe2sf.domain.config import SyncConfig, is_record_type_id
from stripe2sf.domain.reverse.config import SOURCE_OBJECTS
from stripe2sf.domain.reverse.mapping import active_mappings
from stripe2sf.domain.setup.schema import REQUIRED_ON_CREATE, FieldSpec, required_fields

# standard fields no permission set can grant: they follow their object
NOT_GOVERNED = frozenset(
    {
        "Id",
        "Name",
        "OwnerId",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "LastActivityDate",
        "LastViewedDate",
        "LastReferencedDate",
        "MasterRecordId",
        "IsClosed",
        "CaseNumber",
        "CurrencyIsoCode",  # multiple currencies: a record's currency follows its object
        # person accounts: system fields, and the record type (record type visibility grants
        # it, not field-level security)
        "IsPersonAccount",
        "PersonContactId",
        "RecordTypeId",
    }
)
ACTIVITIES = frozenset({"Task", "Event"})
# objects no permission set names: their access is their parent's (their fields have
# field-level security of their own)
CONTROLLED_BY_PARENT = {
    "OpportunityLineItem": "Opportunity",
    "OpportunityContactRole": "Opportunity",
    "PricebookEntry": "Pricebook2",
}
# the org's configuration: readable by API users, no field-level security
SETUP_OBJECTS = frozenset({"User", "Group", "Organization", "Profile", "PermissionSet"})
EDIT_TASKS = "EditTask"
VIEW_SETUP = "ViewSetup"


def fls_governed(sobject: str, field_name: str) -> bool:
    """Whether a permission set grants `sobject.field_name` (see the module docstring)."""
    if field_name.endswith("__c"):
        return True
    if sobject in ACTIVITIES or sobject in SETUP_OBJECTS or field_name in NOT_GOVERNED:
        return False
    return field_name not in REQUIRED_ON_CREATE.get(sobject, ())


@dataclass(frozen=True)
class ObjectRights:
    read: bool = True
    create: bool = False
    edit: bool = False
    view_all: bool = False  # View All Records: only for Change Data Capture (`captured_objects`)


READ = ObjectRights()
EDIT = ObjectRights(read=True, edit=True)
UPSERT = ObjectRights(read=True, create=True, edit=True)


@dataclass(frozen=True)
class Access:
    """A permission set's content: objects -> rights, fields ("Object.Field") -> editable
    (every listed field is readable), enabled user permissions."""

    objects: dict[str, ObjectRights]
    fields: dict[str, bool]
    user_permissions: tuple[str, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)  # field -> why it is listed
    record_types: tuple[str, ...] = ()  # "Object.DeveloperName" the user may create records of

    def readable(self, name: str) -> bool:
        return name in self.fields

    def editable(self, name: str) -> bool:
        return self.fields.get(name, False)


def _grant_names(sobject: str, field_name: str) -> list[str]:
    """Activity custom fields are granted for Task and Event alike."""
    if sobject in ACTIVITIES and field_name.endswith("__c"):
        return [f"Task.{field_name}", f"Event.{field_name}"]
    return [f"{sobject}.{field_name}"]


class _Builder:
    def __init__(self, objects: dict[str, ObjectRights]) -> None:
        self.objects = objects
        self.fields: dict[str, bool] = {}
        self.notes: dict[str, str] = {}

    def add(self, sobject: str, field_name: str, *, edit: bool, why: str) -> None:
        if sobject in CONTROLLED_BY_PARENT:
            if CONTROLLED_BY_PARENT[sobject] not in self.objects:
                return
        elif sobject not in self.objects and sobject not in ACTIVITIES:
            return  # no object access: a field permission would grant nothing
        if not fls_governed(sobject, field_name):
            return
        for name in _grant_names(sobject, field_name):
            self.fields[name] = self.fields.get(name, False) or edit
            self.notes.setdefault(name, why)

    def add_all(self, specs: Iterable[FieldSpec], *, edit: bool, why: str) -> None:
        for spec in specs:
            self.add(spec.sobject, spec.name, edit=edit, why=why)

    def access(
        self, user_permissions: tuple[str, ...] = (), record_types: tuple[str, ...] = ()
    ) -> Access:
        return Access(
            dict(sorted(self.objects.items())),
            dict(sorted(self.fields.items())),
            user_permissions,
            self.notes,
            record_types,
        )


def uses_cases(config: SyncConfig) -> bool:
    """Disputes, or failed payments recorded as Cases."""
    return config.disputes.enabled or config.dunning_object() == "Case"


def written_objects(config: SyncConfig) -> list[str]:
    """The objects (besides Task) stripe2sf creates and updates."""
    o = config.objects
    out = ["Account", "Contact", o.payment_object]
    if uses_cases(config):
        out.append("Case")
    if config.subscriptions.per_subscription_records:
        out.append(o.subscription_object)
    return out


def captured_objects(config: SyncConfig) -> tuple[str, ...]:
    """The objects whose Salesforce changes the configuration uses: Account and Contact with
    `[salesforce_to_stripe]` on, and with `[actions]` on theirs (`change_entities`: Account,
    Contact, Opportunity, and Stripe_Request__c with requests). Empty when both are off.

    Least privilege: Change Data Capture ignores sharing and sends every record's changes, so
    Salesforce lets a user receive an object's change events only with "View All Records" on
    it (View All Data otherwise). The integration set grants it on exactly these objects and
    nowhere else; with both directions off it grants none, and `stripe2sf metadata` writes no
    channel member. Polling (STRIPE2SF_CAPTURE=poll) reads through SOQL and needs only read,
    but the set is the same for both ways of capturing."""
    out: list[str] = list(SOURCE_OBJECTS) if config.salesforce_to_stripe.enabled else []
    out.extend(change_entities(config.actions))
    return tuple(dict.fromkeys(out))


DEFAULT_CAPTURED = ("Account", "Contact", "Opportunity")


def objects_to_capture(config: SyncConfig | None) -> tuple[str, ...]:
    """What capture follows when STRIPE2SF_CAPTURE_OBJECTS is unset: the objects the
    configuration uses (`captured_objects`), so that capture asks for no View All Records the
    integration set does not grant; `DEFAULT_CAPTURED` when it uses none or cannot be read."""
    return (captured_objects(config) if config is not None else ()) or DEFAULT_CAPTURED


def captured_fields(config: SyncConfig) -> list[tuple[str, str, str]]:
    """(object, field, why) of the fields stripe2sf reads from captured changes: the sources
    of the active `[salesforce_to_stripe]` mappings, and the Contact's Account (its lane).
    A change event holds only the fields its subscriber may read (field-level security): a
    field missing here would never arrive. The actions' fields are granted with `[actions]`."""
    if not config.salesforce_to_stripe.enabled:
        return []
    out = [
        (m.sobject, name, f"sent to Stripe as customer {m.stripe_field}")
        for m in active_mappings(config)
        for name in m.fields
    ]
    out.append(("Contact", "AccountId", "the Account (and Stripe customer) of a changed Contact"))
    return out


def integration_access(config: SyncConfig) -> Access:
    """Exactly what stripe2sf's flows, backfill, reconcile, review and doctor read and write."""
    build = _Builder(dict.fromkeys(written_objects(config), UPSERT))
    # custom fields: exactly those `metadata` defines (keys, links, statuses, mapping targets)
    build.add_all(required_fields(config), edit=True, why="written by stripe2sf")
    # standard fields: those the planner wires itself, and mapped ones Stripe owns
    for sobject, names in config.structural_fields().items():
        for name in sorted(n for n in names if not n.endswith("__c")):
            build.add(sobject, name, edit=True, why="wired by the planner (link or status)")
    for m in config.effective_mappings:
        standard = not m.target_field.endswith("__c")
        if standard and config.owner_of(m.target_object, m.target_field) != "salesforce":
            build.add(m.target_object, m.target_field, edit=True, why=f"mapped from {m.source}")
    matching = config.matching
    if matching.by_email:
        build.add("Contact", "Email", edit=False, why="Contacts are matched by email")
    if matching.by_domain:
        build.add(
            "Account", matching.domain_field, edit=False, why="Accounts are matched by domain"
        )
    if config.actions.enabled:  # Salesforce actions: read the record, write its results back
        for sobject in (OPPORTUNITY, REQUEST) if config.actions.requests else (OPPORTUNITY,):
            build.objects[sobject] = EDIT
        specs = action_fields(config.actions)
        build.add_all(
            [s for s in specs if s.sobject != PRODUCT], edit=True, why="Salesforce actions"
        )
        build.add(OPPORTUNITY, "AccountId", edit=False, why="the Account an action bills")
        build.add("Contact", "Email", edit=False, why="a new Stripe customer's email")
        build.add("Contact", "AccountId", edit=False, why="a new Stripe customer's Contact")
        # the Opportunity's contact roles (their access is Opportunity's: controlled by parent)
        build.add(CONTACT_ROLE, "IsPrimary", edit=False, why="a new Stripe customer's email")
        if config.actions.uses_products:  # the Opportunity's products, each with its price
            build.objects.setdefault(PRODUCT, READ)
            build.add_all(
                [s for s in specs if s.sobject == PRODUCT], edit=False, why="Salesforce actions"
            )
            build.add(LINE_ITEM, "Product2Id", edit=False, why="the Opportunity's products")
    for sobject in captured_objects(config):  # Change Data Capture's requirement
        rights = build.objects.get(sobject, READ)
        build.objects[sobject] = ObjectRights(rights.read, rights.create, rights.edit, True)
    for sobject, name, why in captured_fields(config):
        build.add(sobject, name, edit=False, why=why)
    return build.access(
        (EDIT_TASKS, VIEW_SETUP), person_record_types(config) + configured_record_types(config)
    )


def person_record_types(config: SyncConfig) -> tuple[str, ...]:
    """The person account record type the integration user creates person accounts with,
    when the configuration says the org has Person Accounts (`[org] account_model =
    "person"`: the set names it, and an org without Person Accounts refuses to deploy it).
    A person account's person fields need no grant of their own: their field-level security
    is their Contact fields' (Contact.Email for PersonEmail, Contact.X__c for X__pc)."""
    if config.org.account_model != "person":
        return ()
    return (f"PersonAccount.{config.org.person_record_type}",)


def configured_record_types(config: SyncConfig) -> tuple[str, ...]:
    """The record types `[record_types]` names by DeveloperName: the integration user creates
    its records with them (one given by Id cannot be named in a permission set: the admin
    grants it)."""
    return tuple(
        f"{sobject}.{name}"
        for sobject, name in sorted(config.record_types.items())
        if not is_record_type_id(name)
        and not (sobject == "Account" and config.org.account_model == "person")
    )


def mapped_targets(config: SyncConfig, source_prefix: str, sobject: str) -> list[str]:
    """Fields of `sobject` that mappings from `source_prefix...` Stripe paths write."""
    return [
        m.target_field
        for m in config.effective_mappings
        if m.source.startswith(source_prefix) and m.target_object == sobject
    ]


def viewer_access(config: SyncConfig) -> Access:
    """Sales and support: the subscription and billing status of Accounts, read only."""
    o = config.objects
    build = _Builder({"Account": READ})
    for name in (o.subscription_status_field, o.billing_status_field):
        build.add("Account", name, edit=False, why="the customer's standing in Stripe")
    _action_access(config, build, requester=True)
    return build.access()


def _action_access(config: SyncConfig, build: _Builder, *, requester: bool) -> None:
    """Salesforce actions' fields, read only; a `requester` (sales: the viewer set) also sets
    the Opportunity's price and creates Stripe_Request__c records, filling in their inputs."""
    actions = config.actions
    if not actions.enabled:
        return
    build.objects[OPPORTUNITY] = EDIT if requester else READ  # the price is edited
    if actions.requests:
        build.objects[REQUEST] = ObjectRights(read=True, create=requester)
    inputs = {(OPPORTUNITY, actions.price_field), (OPPORTUNITY, actions.quantity_field)}
    inputs |= {(REQUEST, name) for name in REQUEST_INPUT_FIELDS}
    for spec in action_fields(actions):
        editable = requester and (spec.sobject, spec.name) in inputs
        build.add(spec.sobject, spec.name, edit=editable, why="Salesforce actions")


def finance_access(config: SyncConfig) -> Access:
    """Finance: payments and the billing and subscription fields, read only."""
    o = config.objects
    objects = {"Account": READ, o.payment_object: READ}
    per_sub = config.subscriptions.per_subscription_records
    if per_sub:
        objects[o.subscription_object] = READ
    build = _Builder(objects)
    payment_objects = {o.payment_object, o.subscription_object} if per_sub else {o.payment_object}
    build.add_all(
        (s for s in required_fields(config) if s.sobject in payment_objects),
        edit=False,
        why="a Stripe payment or subscription",
    )
    account_fields = [
        o.customer_id_field,
        o.subscription_status_field,
        *mapped_targets(config, "subscription.", "Account"),
        o.billing_status_field,
    ]
    for name in account_fields:
        build.add("Account", name, edit=False, why="billing and subscription of the customer")
    _action_access(config, build, requester=False)
    return build.access()
