"""The Salesforce fields and objects a configuration needs, as plain specs.

Used by `metadata` (SFDX source) and by `check_against_describe` (does an org have them?).
Field types follow the transform: money -> Number(18,3) (three-decimal currencies fit;
the currency sits in its own field, so no org currency is implied), datetime -> DateTime,
date -> Date, picklist -> restricted Picklist, boolean -> Checkbox, integers -> Number(18,0),
URLs -> Url, anything else -> Text(255).

`field_limits` gives the length of every text field stripe2sf writes (those specs, and the
standard fields' documented lengths) and `fit_lengths` makes a record's values fit: a value
too long is cut where a cut value is still right (names, subjects, descriptions) and refused
where it would be wrong (an email, a URL, a phone number, an id): the record is then written
without that field and the refusal is recorded. Never is a whole record or customer blocked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stripe2sf.domain.allowlist import source_spec
from stripe2sf.domain.config import BILLING_STATUS_VALUES, FieldMapping, SyncConfig
from stripe2sf.domain.flows.cardguard import Refusal
from stripe2sf.domain.setup.doctor import DEPLOY_HINT


@dataclass(frozen=True)
class FieldSpec:
    sobject: str
    name: str
    type: str  # Text, Number, Checkbox, Date, DateTime, Picklist, Lookup, Url
    label: str
    description: str = ""
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    external_id: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()
    reference_to: str | None = None
    relationship_name: str | None = None
    relationship_label: str | None = None

    @property
    def metadata_object(self) -> str:
        """Task and Event custom fields are defined on Activity."""
        return "Activity" if self.sobject in ("Task", "Event") else self.sobject


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    label: str
    plural_label: str
    name_format: str
    description: str = ""


def label_of(api_name: str) -> str:
    base = api_name.removesuffix("__c").replace("_", " ")
    return base.replace(" Id", " ID")[:40]


def _text(sobject: str, name: str, desc: str, *, key: bool = False) -> FieldSpec:
    return FieldSpec(
        sobject, name, "Text", label_of(name), desc, length=255, external_id=key, unique=key
    )


def _from_mapping(m: FieldMapping) -> FieldSpec:
    spec = source_spec(m.source)
    kind = spec.kind if spec else "string"
    desc = f"From Stripe {m.source}" + (f": {spec.description}" if spec else "")
    t = m.effective_transform
    obj, name = m.target_object, m.target_field
    if t == "money":
        return FieldSpec(obj, name, "Number", label_of(name), desc, precision=18, scale=3)
    if t == "datetime":
        return FieldSpec(obj, name, "DateTime", label_of(name), desc)
    if t == "date":
        return FieldSpec(obj, name, "Date", label_of(name), desc)
    if t == "picklist":
        values = tuple(dict.fromkeys((m.values or {}).values()))
        return FieldSpec(obj, name, "Picklist", label_of(name), desc, values=values)
    if t == "boolean" or kind == "bool":
        return FieldSpec(obj, name, "Checkbox", label_of(name), desc)
    if kind == "int":
        return FieldSpec(obj, name, "Number", label_of(name), desc, precision=18, scale=0)
    if kind == "url":
        return FieldSpec(obj, name, "Url", label_of(name), desc)
    return FieldSpec(obj, name, "Text", label_of(name), desc, length=255)


def required_objects(config: SyncConfig) -> list[ObjectSpec]:
    o = config.objects
    out = [
        ObjectSpec(
            o.payment_object,
            "Stripe Payment",
            "Stripe Payments",
            "PAY-{00000000}",
            "A Stripe charge, kept in step by stripe2sf.",
        ),
    ]
    if config.subscriptions.per_subscription_records:
        out.append(
            ObjectSpec(
                o.subscription_object,
                "Stripe Subscription",
                "Stripe Subscriptions",
                "SUB-{00000000}",
                "A Stripe subscription, kept in step by stripe2sf.",
            )
        )
    return out


def required_fields(config: SyncConfig) -> list[FieldSpec]:
    """Every custom field stripe2sf writes with this config (standard fields excluded)."""
    o = config.objects
    key = o.customer_id_field
    dunning = config.dunning_object()
    specs: list[FieldSpec] = [
        _text("Account", key, "Stripe customer id (External ID)", key=True),
        _text("Contact", key, "Stripe customer id (External ID)", key=True),
        FieldSpec(
            "Account",
            o.billing_status_field,
            "Picklist",
            label_of(o.billing_status_field),
            "Current / Payment Overdue / At Risk, from failed invoice payments",
            values=BILLING_STATUS_VALUES,
        ),
        _text(o.payment_object, o.payment_key_field, "Stripe charge id (External ID)", key=True),
        FieldSpec(
            o.payment_object,
            o.payment_account_field,
            "Lookup",
            "Account",
            "Account of the paying customer",
            reference_to="Account",
            relationship_name="Stripe_Payments",
            relationship_label="Stripe Payments",
        ),
        FieldSpec(
            o.payment_object,
            o.payment_contact_field,
            "Lookup",
            "Contact",
            "Contact of the paying customer",
            reference_to="Contact",
            relationship_name="Stripe_Payments",
            relationship_label="Stripe Payments",
        ),
        _text(dunning, o.dedupe_key_field, "invoice id:attempt (External ID)", key=True),
        FieldSpec(
            dunning,
            o.resolved_at_field,
            "DateTime",
            label_of(o.resolved_at_field),
            "When the failed invoice was paid",
        ),
        FieldSpec(
            dunning,
            o.resolution_minutes_field,
            "Number",
            label_of(o.resolution_minutes_field),
            "Minutes from failure to payment",
            precision=18,
            scale=0,
        ),
    ]
    # disputes always open a Case; review Tasks (ambiguous or shared emails, duplicate
    # Contacts found by reconcile) use the key on Task whatever the matching rule
    specs.append(_text("Case", o.dedupe_key_field, "dispute/invoice key (External ID)", key=True))
    if dunning == "Case":
        specs.append(_text("Task", o.dedupe_key_field, "review key (External ID)", key=True))
    if config.subscriptions.per_subscription_records:
        specs.append(
            _text(
                o.subscription_object, o.subscription_key_field, "Stripe subscription id", key=True
            )
        )
        specs.append(
            FieldSpec(
                o.subscription_object,
                o.subscription_account_field,
                "Lookup",
                "Account",
                "Account of the customer",
                reference_to="Account",
                relationship_name="Stripe_Subscriptions",
                relationship_label="Stripe Subscriptions",
            )
        )
    for m in config.effective_mappings:
        if m.target_field.endswith("__c"):
            specs.append(_from_mapping(m))
    unique: dict[tuple[str, str], FieldSpec] = {}
    for spec in specs:
        unique.setdefault((spec.metadata_object, spec.name), spec)
    return list(unique.values())


def check_against_describe(config: SyncConfig, describe: Mapping[str, set[str]]) -> list[str]:
    """Problems with an org: `describe` maps sObject -> its field names (from describe calls)."""
    problems: list[str] = []
    for spec in required_fields(config):
        fields = describe.get(spec.sobject)
        if fields is None:
            problems.append(f"{spec.sobject}: object not found (needed for {spec.name})")
        elif spec.name not in fields:
            problems.append(
                f"{spec.sobject}.{spec.name}: field missing; expected {spec.type} "
                f"({spec.description}); deploy stripe2sf's metadata: {DEPLOY_HINT}"
            )
    for m in config.effective_mappings:
        fields = describe.get(m.target_object)
        if (
            fields is not None
            and not m.target_field.endswith("__c")
            and m.target_field not in fields
        ):
            problems.append(f"{m.target}: standard field not found (mapping from {m.source})")
    return problems


# ---- field lengths ------------------------------------------------------------------------

LimitKind = Literal["text", "email", "url", "phone", "id"]


@dataclass(frozen=True)
class FieldLimit:
    """A field's length; only `text` may be cut (a cut email, URL, phone or id is wrong)."""

    length: int
    kind: LimitKind = "text"


def _limits(sobject: str, **fields: tuple[int, LimitKind]) -> dict[tuple[str, str], FieldLimit]:
    return {(sobject, name): FieldLimit(length, kind) for name, (length, kind) in fields.items()}


# Standard fields stripe2sf writes or a mapping may target, with Salesforce's lengths.
STANDARD_FIELD_LIMITS: Mapping[tuple[str, str], FieldLimit] = {
    **_limits(
        "Account",
        Name=(255, "text"),
        AccountNumber=(40, "text"),
        Phone=(40, "phone"),
        Website=(255, "url"),
        Description=(32000, "text"),
        # a person account's person fields (its person contact's)
        FirstName=(40, "text"),
        LastName=(80, "text"),
        PersonEmail=(80, "email"),
        PersonMobilePhone=(40, "phone"),
        PersonTitle=(80, "text"),
    ),
    **_limits(
        "Contact",
        FirstName=(40, "text"),
        LastName=(80, "text"),
        Email=(80, "email"),
        Phone=(40, "phone"),
        MobilePhone=(40, "phone"),
        Title=(128, "text"),
        Description=(32000, "text"),
    ),
    **_limits("Task", Subject=(255, "text"), Description=(32000, "text")),
    **_limits(
        "Case",
        Subject=(255, "text"),
        Description=(32000, "text"),
        SuppliedEmail=(80, "email"),
        SuppliedName=(80, "text"),
    ),
}


def field_limits(config: SyncConfig) -> dict[tuple[str, str], FieldLimit]:
    """(sObject, field) -> its limit: the standard table, then the custom fields of this
    config as `metadata` generates them (use `config.field_limits`, computed once)."""
    limits = dict(STANDARD_FIELD_LIMITS)
    for spec in required_fields(config):
        # a Contact field also shows on a person account as X__pc
        twin = spec.name.removesuffix("__c") + "__pc" if spec.sobject == "Contact" else None
        for sobject, name in ((spec.sobject, spec.name), ("Account", twin)):
            if name is None:
                continue
            if spec.type == "Text" and spec.length:
                kind: LimitKind = "id" if spec.external_id else "text"
                limits[(sobject, name)] = FieldLimit(spec.length, kind)
            elif spec.type == "Url":
                limits[(sobject, name)] = FieldLimit(255, "url")
    return limits


# Fields a record cannot be created without, among those stripe2sf writes.
REQUIRED_ON_CREATE: Mapping[str, tuple[str, ...]] = {
    "Account": ("Name", "LastName"),  # LastName: a person account's
    "Contact": ("LastName",),
}

ELLIPSIS = "\u2026"


def fit_lengths(
    sobject: str,
    fields: Mapping[str, Any],
    limits: Mapping[tuple[str, str], FieldLimit],
    external_id: str | None = None,
) -> tuple[dict[str, Any], list[Refusal], list[str]]:
    """(fields that fit, refusals, notes): text cut to its limit (ending in an ellipsis),
    any other kind of value too long left out and refused."""
    out: dict[str, Any] = {}
    refused: list[Refusal] = []
    notes: list[str] = []
    for name, value in fields.items():
        limit = limits.get((sobject, name))
        if limit is None or not isinstance(value, str) or len(value) <= limit.length:
            out[name] = value
            continue
        where = f"{sobject}.{name}"
        if limit.kind == "text":
            out[name] = value[: limit.length - 1] + ELLIPSIS
            notes.append(f"{where} cut to its {limit.length} characters (was {len(value)})")
            continue
        refused.append(
            Refusal(
                sobject,
                name,
                f"value too long for {where}: {len(value)} characters, the field holds "
                f"{limit.length}; a cut {limit.kind} would be wrong, so the record is written "
                "without it",
                f"[{len(value)} characters]",
                external_id,
            )
        )
    return out, refused, notes
