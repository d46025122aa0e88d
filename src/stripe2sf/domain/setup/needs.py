"""What a configuration needs of the Salesforce user stripe2sf runs as: every object and field
it reads or writes, with the rights that takes and why (`needs`), and what the permission set
stripe2sf generates for that user grants (`integration_grants`). `stripe2sf doctor` holds the
user's describes against both (`domain.setup.doctor.access_checks`).

Reads come from the SOQL stripe2sf sends, built here by the same functions the lookups, the
matching and reconcile use and read back (`soql_reads`), so a new query or field is checked
without a list to keep in step; and the fields it reads from captured Salesforce changes
(`access.captured_fields`: a change event holds only the fields its subscriber may read). The
"View All Records" capture takes cannot be seen in a describe: doctor subscribes to check it.
Writes are the planner's structural fields, the mapped fields stripe2sf owns, and the custom
fields of `schema.required_fields`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from stripe2sf.domain import soql
from stripe2sf.domain.actions import subjects as actions
from stripe2sf.domain.actions.schema import action_fields
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.matching.person import person_field
from stripe2sf.domain.reconcile.drift import soql_queries
from stripe2sf.domain.setup.access import captured_fields
from stripe2sf.domain.setup.doctor import ORG_QUERY, PERMISSION_SET, Grants, Need, Right
from stripe2sf.domain.setup.metadata import NS, generate_metadata
from stripe2sf.domain.setup.schema import required_fields
from stripe2sf.domain.sources import CURRENCY_FIELD

READ: frozenset[Right] = frozenset({"read"})
WRITE: frozenset[Right] = frozenset({"read", "edit"})
UPSERT: frozenset[Right] = frozenset({"read", "create", "edit"})

_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?P<rest>.*)$", re.I | re.S
)
_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'")
_CONDITION = re.compile(
    r"([A-Za-z_][\w.]*)\s*(?:!=|<=|>=|=|<|>|\bLIKE\b|\bNOT\s+IN\b|\bIN\b)", re.I
)
_ORDER = re.compile(r"\bORDER\s+BY\s+([\w.]+)", re.I)


def soql_reads(query: str) -> tuple[str, list[tuple[str, str]]]:
    """(object queried, [(object, field) read]) of a plain SOQL query: the selected fields,
    those its WHERE and ORDER BY name, and parent fields (`Account.X` read through a
    Contact's AccountId)."""
    match = _SELECT.match(query)
    if match is None:
        raise ValueError(f"not a SELECT ... FROM query: {query!r}")
    sobject = match["object"]
    rest = _LITERAL.sub("''", match["rest"])
    names = [n.strip() for n in match["fields"].split(",")]
    names += _CONDITION.findall(rest) + _ORDER.findall(rest)
    reads: list[tuple[str, str]] = []
    for name in dict.fromkeys(n for n in names if n):
        if "." not in name:
            reads.append((sobject, name))
            continue
        relationship, parent_field = name.split(".", 1)
        if relationship.endswith("__r"):
            reads.append((sobject, relationship[:-3] + "__c"))
            continue
        reads.append((sobject, relationship + "Id"))
        reads.append((relationship, parent_field))
    return sobject, reads


def read_queries(config: SyncConfig) -> list[tuple[str, str]]:
    """(why, SOQL) of every query stripe2sf sends with this configuration (with sample keys)."""
    o = config.objects
    key, billing = o.customer_id_field, o.billing_status_field
    queries = [
        (
            "customer lookups",
            soql.account_by_customer(key, billing, "cus_0", config.person_accounts),
        ),
        ("customer lookups", soql.contact_by_customer(key, "cus_0")),
        (
            "failed-payment records",
            soql.open_dunning(config.dunning_object(), o.dedupe_key_field, "in_0"),
        ),
        ("review Tasks", soql.review_task(o.dedupe_key_field, "cus_0")),
        ("the Stripe mode interlock", ORG_QUERY),
    ]
    if config.matching.by_email:
        queries.append(("matching by email", soql.contacts_by_email(key, "a@example.com")))
    if config.matching.by_domain:
        domain = soql.accounts_by_domain(config.matching.domain_field, "example.com")
        queries.append(("matching by website domain", domain))
    for queue in {config.failed_payments.queue, config.disputes.queue} - {None}:
        queries.append(("queue owners", soql.queue_by_name(str(queue))))
    queries += [(f"reconcile ({kind})", q) for kind, q in soql_queries(config).items()]
    if config.actions.enabled:
        why = "Salesforce actions"
        queries.append((why, actions.opportunity_soql(config.actions, "006000000000000")))
        queries.append((why, actions.contacts_soql("001000000000000")))
        queries.append((why, actions.contact_roles_soql("006000000000000")))
        if config.actions.uses_products:
            queries.append((why, actions.lines_soql(config.actions, "006000000000000")))
        if config.actions.requests:
            queries.append((why, actions.request_soql("a00000000000000")))
    return queries


def written_fields(config: SyncConfig) -> list[tuple[str, str, str]]:
    """(object, field, why) of every field stripe2sf writes."""
    o = config.objects
    structural = config.structural_fields()
    dunning = config.dunning_object()
    out: list[tuple[str, str, str]] = []

    def add(sobject: str, names: Iterable[str], why: str) -> None:
        out.extend((sobject, name, why) for name in sorted(names))

    for sobject in ("Account", "Contact", o.payment_object):
        add(sobject, structural[sobject], "keys and lookups")
    if config.subscriptions.per_subscription_records:
        add(o.subscription_object, structural[o.subscription_object], "keys and lookups")
    add(dunning, structural[dunning], "failed-payment records")
    if config.disputes.enabled:
        add(
            "Case",
            structural["Case"] - {o.resolved_at_field, o.resolution_minutes_field},
            "dispute Cases",
        )
    review = {o.dedupe_key_field, "Subject", "Description", "Priority", "Status"}
    if config.matching.review_owner_id:
        review.add("OwnerId")
    add("Task", review, "review Tasks")
    for m in config.effective_mappings:
        if config.owner_of(m.target_object, m.target_field) != "salesforce":
            out.append((m.target_object, m.target_field, f"mapping {m.source}"))
    for spec in required_fields(config):
        out.append((spec.sobject, spec.name, "stripe2sf's custom fields"))
    for spec in action_fields(config.actions):
        if spec.sobject != actions.PRODUCT:  # a product's Stripe price is only read
            out.append((spec.sobject, spec.name, "Salesforce actions"))
    if config.actions.enabled:
        out.append(("Account", config.objects.customer_id_field, "Salesforce actions link"))
    if config.person_accounts:  # a person account is written with its person contact
        out.append(("Account", "RecordTypeId", "person accounts (their record type)"))
        for sobject, name, why in list(out):
            twin = person_field(name) if sobject == "Contact" else None
            if twin is not None and name != "AccountId":
                out.append(("Account", twin, f"{why} (a person account's {name})"))
    if config.multi_currency:  # a record's amounts are in its CurrencyIsoCode
        for sobject in dict.fromkeys(
            m.target_object
            for m in config.effective_mappings
            if m.effective_transform == "money"
            and config.owner_of(m.target_object, m.target_field) != "salesforce"
        ):
            if config.owner_of(sobject, CURRENCY_FIELD) != "salesforce":
                out.append((sobject, CURRENCY_FIELD, "the currency of the amounts it writes"))
    return out


def written_objects(config: SyncConfig) -> list[tuple[str, str]]:
    o = config.objects
    out = [
        ("Account", "customers"),
        ("Contact", "customers"),
        (o.payment_object, "payments"),
        (config.dunning_object(), "failed payments"),
        ("Task", "review Tasks"),
    ]
    if config.subscriptions.per_subscription_records:
        out.append((o.subscription_object, "subscriptions"))
    if config.disputes.enabled:
        out.append(("Case", "disputes"))
    return out


class _Needs:
    def __init__(self) -> None:
        self.rights: dict[tuple[str, str | None], set[Right]] = {}
        self.why: dict[tuple[str, str | None], list[str]] = {}

    def add(self, sobject: str, name: str | None, rights: Iterable[Right], why: str) -> None:
        key = (sobject, name)
        self.rights.setdefault(key, set()).update(rights)
        self.why.setdefault(key, []).append(why)


def needs(config: SyncConfig) -> list[Need]:
    """Every object and field the configuration reads or writes, objects first, in a stable
    order."""
    found = _Needs()
    for sobject, why in written_objects(config):
        found.add(sobject, None, UPSERT, why)
    if config.actions.enabled:  # results written back to the record (never created)
        found.add(actions.OPPORTUNITY, None, WRITE, "Salesforce actions")
        if config.actions.requests:
            found.add(actions.REQUEST, None, WRITE, "Salesforce actions")
    for sobject, name, why in written_fields(config):
        found.add(sobject, None, READ, why)
        found.add(sobject, name, WRITE, why)
    for sobject, name, why in captured_fields(config):
        found.add(sobject, None, READ, why)
        found.add(sobject, name, READ, why)
    for why, query in read_queries(config):
        sobject, reads = soql_reads(query)
        found.add(sobject, None, READ, why)
        for target, name in reads:
            found.add(target, None, READ, why)
            found.add(target, name, READ, why)
    specs = [*required_fields(config), *action_fields(config.actions)]
    values = {(s.sobject, s.name): s.values for s in specs if s.values}
    for m in config.effective_mappings:
        if m.values:
            values.setdefault(
                (m.target_object, m.target_field), tuple(dict.fromkeys(m.values.values()))
            )
    out = [
        Need(
            sobject,
            name,
            frozenset(rights),
            tuple(dict.fromkeys(found.why[(sobject, name)])),
            values.get((sobject, name), ()) if name else (),
            create_only=name is not None and config.owner_of(sobject, name) == "create_only",
        )
        for (sobject, name), rights in found.rights.items()
    ]
    return sorted(out, key=lambda n: (n.sobject, n.field is not None, n.field or ""))


# ---- what stripe2sf's permission set grants ----------------------------------------------


def _flag(element: ET.Element, tag: str) -> bool:
    return (element.findtext(f"{{{NS}}}{tag}") or "").strip() == "true"


def parse_permission_set(xml: str) -> Grants:
    """The grants of a `.permissionset-meta.xml` document (implied read included)."""
    root = ET.fromstring(xml)
    objects: dict[str, frozenset[Right]] = {}
    for element in root.findall(f"{{{NS}}}objectPermissions"):
        rights: set[Right] = set()
        if _flag(element, "allowRead"):
            rights.add("read")
        if _flag(element, "allowCreate"):
            rights |= {"read", "create"}
        if _flag(element, "allowEdit"):
            rights |= {"read", "edit"}
        objects[element.findtext(f"{{{NS}}}object") or ""] = frozenset(rights)
    fields: dict[str, frozenset[Right]] = {}
    for element in root.findall(f"{{{NS}}}fieldPermissions"):
        rights = set()
        if _flag(element, "readable"):
            rights.add("read")
        if _flag(element, "editable"):
            rights |= {"read", "edit"}
        fields[element.findtext(f"{{{NS}}}field") or ""] = frozenset(rights)
    users = frozenset(
        element.findtext(f"{{{NS}}}name") or ""
        for element in root.findall(f"{{{NS}}}userPermissions")
        if _flag(element, "enabled")
    )
    return Grants(objects, fields, users)


def integration_grants(config: SyncConfig) -> Grants:
    """What the integration permission set `stripe2sf metadata` generates grants."""
    suffix = f"/{PERMISSION_SET}.permissionset-meta.xml"
    for path, text in generate_metadata(config).items():
        if path.endswith(suffix):
            return with_person_fields(parse_permission_set(text))
    return Grants()


def with_person_fields(grants: Grants) -> Grants:
    """A person account's person field is granted by its Contact field's grant (PersonEmail by
    Contact.Email, X__pc by Contact.X__c): field-level security is set on the Contact."""
    fields = dict(grants.fields)
    for name, rights in grants.fields.items():
        sobject, _, field_name = name.partition(".")
        twin = person_field(field_name) if sobject == "Contact" else None
        if twin is not None:
            fields.setdefault(f"Account.{twin}", rights)
    return Grants(grants.objects, fields, grants.user_permissions)
