"""The sync configuration: what `stripe2sf.toml` holds, validated, with working defaults.

An empty file gives DESIGN.md's data model. Every error names the setting and says what
is expected, e.g. ``failed_payments.record: expected one of 'task', 'case'; got 'email'``.

Layout of `stripe2sf.toml` (every table optional)::

    [objects]            Salesforce object and structural field names
    [matching]           how a Stripe customer finds its Account/Contact
    [subscriptions]      status rule, per-subscription records
    [failed_payments]    Task or Case, owner, queue, priority
    [disputes]           Case for charge.dispute.created
    [sync]               refetch policy, Bulk API threshold
    [org]                what kind of org: "auto" (as describe reports it) or true/false
    [ownership]          "Object.Field" = "stripe" | "salesforce" | "create_only"
    [record_types]       Object = "DeveloperName" (or its 012 Id): the record type of the
                         records stripe2sf creates
    [salesforce_to_stripe]  Salesforce-owned fields written to the linked Stripe customer
    [actions]            Opportunity stage / Stripe_Request__c -> Stripe invoice, subscription
                         or payment link (`domain.actions.config`)
    [[mappings]]         source = "charge.amount", target = "Stripe_Payment__c.Amount__c",
                         transform = "money", values = { ... } (picklists)
    replace_default_mappings = false   # true: only the [[mappings]] listed are used
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.allowlist import is_forbidden_path, source_object, source_spec
from stripe2sf.domain.reverse.config import ReverseConfig
from stripe2sf.domain.reverse.mapping import reverse_problems
from stripe2sf.domain.transforms import Transform

if TYPE_CHECKING:
    from stripe2sf.domain.setup.schema import FieldLimit

Owner = Literal["stripe", "salesforce", "create_only"]
# (source, target field, transform, values) of a mapping stripe2sf may write
WritableMapping = tuple[str, str, Transform, dict[str, str] | None]

SUBSCRIPTION_STATUS_VALUES: dict[str, str] = {
    "active": "Active",
    "trialing": "Trialing",
    "past_due": "Past Due",
    "unpaid": "Unpaid",
    "canceled": "Canceled",
    "incomplete": "Incomplete",
    "incomplete_expired": "Canceled",
    "paused": "Paused",
}
PAYMENT_STATUS_VALUES: dict[str, str] = {
    v: v for v in ("Succeeded", "Failed", "Pending", "Refunded", "Partially Refunded", "Disputed")
}
BILLING_CURRENT = "Current"
BILLING_OVERDUE = "Payment Overdue"
BILLING_AT_RISK = "At Risk"
BILLING_STATUS_VALUES = (BILLING_CURRENT, BILLING_OVERDUE, BILLING_AT_RISK)

DEFAULT_FREE_EMAIL_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
)


class ConfigError(ValueError):
    """The configuration is invalid; `problems` lists one message per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stripe2sf configuration:\n  " + "\n  ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectsConfig(_Strict):
    """Salesforce names of the objects and of the fields the planner wires itself."""

    customer_id_field: str = "Stripe_Customer_Id__c"
    payment_object: str = "Stripe_Payment__c"
    payment_key_field: str = "Stripe_Charge_Id__c"
    payment_account_field: str = "Account__c"
    payment_contact_field: str = "Contact__c"
    subscription_object: str = "Stripe_Subscription__c"
    subscription_key_field: str = "Stripe_Subscription_Id__c"
    subscription_account_field: str = "Account__c"
    subscription_status_field: str = "Subscription_Status__c"
    billing_status_field: str = "Billing_Status__c"
    dedupe_key_field: str = "Stripe_Dedupe_Key__c"
    resolved_at_field: str = "Stripe_Resolved_At__c"
    resolution_minutes_field: str = "Stripe_Resolution_Minutes__c"

    @field_validator("*")
    @classmethod
    def _api_name(cls, value: str) -> str:
        if not _is_api_name(value):
            raise ValueError(f"expected a Salesforce API name, got {value!r}")
        return value


class MatchingConfig(_Strict):
    """Find an Account for a Stripe customer: linked id, then Contact email, then domain."""

    by_email: bool = True
    by_domain: bool = False
    domain_field: str = "Website"
    free_email_domains: tuple[str, ...] = DEFAULT_FREE_EMAIL_DOMAINS
    multiple_contacts: Literal["oldest", "most_recently_active", "review"] = "review"
    review_owner_id: str | None = None
    create_missing: bool = True
    # a duplicate rule refused to create the customer's Account or Contact: link the one record
    # it matched (another customer's, several, or unreadable ones go to review) or always
    # review; never allowSave (`domain.matching.duplicates`)
    on_duplicate: Literal["link", "review"] = "link"


class SubscriptionsConfig(_Strict):
    """`status_order`: with several subscriptions, the Account shows the first status of this
    list that any of them has. Default: money at risk first (past_due, unpaid), then paying
    (active), then trialing, paused, incomplete, canceled."""

    status_order: tuple[str, ...] = (
        "past_due",
        "unpaid",
        "active",
        "trialing",
        "paused",
        "incomplete",
        "incomplete_expired",
        "canceled",
    )
    per_subscription_records: bool = False

    @field_validator("status_order")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in value if s not in SUBSCRIPTION_STATUS_VALUES]
        if unknown:
            raise ValueError(
                f"unknown Stripe subscription statuses {unknown}; "
                f"expected some of {sorted(SUBSCRIPTION_STATUS_VALUES)}"
            )
        return value


class FailedPaymentsConfig(_Strict):
    """invoice.payment_failed -> Task or Case, one per invoice attempt."""

    record: Literal["task", "case"] = "task"
    owner: Literal["account_owner", "queue"] = "account_owner"
    queue: str | None = None
    priority: str = "High"
    final_attempt_priority: str = "High"
    due_in_days: int = Field(default=1, ge=0, le=365)
    close_on_paid: bool = True
    task_closed_status: str = "Completed"
    case_closed_status: str = "Closed"
    case_origin: str = "Stripe"


class DisputesConfig(_Strict):
    enabled: bool = True
    priority: str = "High"
    owner: Literal["account_owner", "queue"] = "account_owner"
    queue: str | None = None
    case_origin: str = "Stripe"


class SyncOptions(_Strict):
    """`refetch`: when the planner asks I/O to refetch an event's object from Stripe.
    `when_mutable` refetches objects that can still change (not canceled/deleted/paid)."""

    refetch: Literal["never", "when_mutable", "always"] = "when_mutable"
    bulk_threshold: int = Field(default=2000, ge=1)
    payment_intent_without_charge: bool = True


class OrgConfig(_Strict):
    """What kind of Salesforce org stripe2sf writes to. "auto" follows what the org reports
    (read once per process when it connects); true or false overrides it.

    `multi_currency`: the org has multiple currencies enabled (describe shows CurrencyIsoCode
    on the payment object). Then every record stripe2sf writes an amount to carries that
    amount's currency as CurrencyIsoCode (a EUR payment is not read in the corporate
    currency).

    `account_model`: "person" when the org has Person Accounts (the Account describe shows
    IsPersonAccount and the person record type is available to stripe2sf's user), else
    "business". With person accounts a new customer becomes a person account (record type
    `person_record_type`, a DeveloperName, or the Id `person_record_type_id`; FirstName and
    LastName from the customer's name, PersonEmail, the customer id on the Account and on its
    person contact), which a later customer of that email finds by its PersonEmail (its person
    contact's Email); existing business Contacts still match by Email. "business" keeps an
    Account and a Contact per new customer in either kind of org."""

    multi_currency: bool | Literal["auto"] = "auto"
    account_model: Literal["auto", "business", "person"] = "auto"
    person_record_type: str = "PersonAccount"
    person_record_type_id: str | None = None


class FieldMapping(_Strict):
    source: str
    target: str
    transform: Transform | None = None
    values: dict[str, str] | None = None
    note: str = ""

    @property
    def target_object(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def target_field(self) -> str:
        return self.target.split(".", 1)[1]

    @property
    def source_object(self) -> str:
        return source_object(self.source)

    @property
    def effective_transform(self) -> Transform:
        """The transform given, else the natural one for the source kind."""
        if self.transform is not None:
            return self.transform
        spec = source_spec(self.source)
        kind = spec.kind if spec else "string"
        if kind in ("money", "decimal_money"):
            return "money"
        if kind == "timestamp":
            return "datetime"
        if self.values:
            return "picklist"
        return "none"


def _m(source: str, target: str, transform: Transform | None = None, **kw: Any) -> FieldMapping:
    return FieldMapping(source=source, target=target, transform=transform, **kw)


def default_mappings(objects: ObjectsConfig | None = None) -> tuple[FieldMapping, ...]:
    """DESIGN.md's data model as field mappings."""
    o = objects or ObjectsConfig()
    pay, sub = o.payment_object, o.subscription_object
    sub_fields = (
        _m(
            "subscription.status",
            f"Account.{o.subscription_status_field}",
            "picklist",
            values=SUBSCRIPTION_STATUS_VALUES,
        ),
        _m("subscription.plan_name", "Account.Subscription_Plan__c"),
        _m("subscription.quantity", "Account.Subscription_Quantity__c"),
        _m("subscription.mrr", "Account.MRR__c", "money"),
        _m("subscription.current_period_end", "Account.Current_Period_End__c", "date"),
        _m("subscription.cancel_at_period_end", "Account.Cancel_At_Period_End__c", "boolean"),
    )
    per_sub = tuple(
        _m(m.source, f"{sub}.{m.target_field}", m.transform, values=m.values) for m in sub_fields
    )
    return (
        _m("charge.amount", f"{pay}.Amount__c", "money"),
        _m("charge.currency", f"{pay}.Currency__c", "upper"),
        _m("charge.created", f"{pay}.Paid_At__c", "datetime"),
        _m("charge.status", f"{pay}.Status__c", "picklist", values=PAYMENT_STATUS_VALUES),
        _m("charge.invoice_id", f"{pay}.Invoice_Id__c"),
        _m("charge.card_brand", f"{pay}.Card_Brand__c"),
        _m("charge.card_last4", f"{pay}.Card_Last4__c"),
        _m("charge.amount_refunded", f"{pay}.Amount_Refunded__c", "money"),
        _m("charge.failure_message", f"{pay}.Failure_Message__c"),
        _m("customer.display_name", "Account.Name"),
        _m("customer.email", "Contact.Email"),
        _m("customer.first_name", "Contact.FirstName"),
        _m("customer.last_name", "Contact.LastName"),
        _m("customer.deleted", "Account.Stripe_Customer_Deleted__c", "boolean"),
        *sub_fields,
        *per_sub,
        _m("payment_method.card_brand", "Account.Card_Brand__c"),
        _m("payment_method.card_last4", "Account.Card_Last4__c"),
        _m("payment_method.card_exp_month", "Account.Card_Exp_Month__c"),
        _m("payment_method.card_exp_year", "Account.Card_Exp_Year__c"),
    )


DEFAULT_OWNERSHIP: dict[str, Owner] = {
    "Account.Name": "create_only",
    "Contact.FirstName": "create_only",
    "Contact.LastName": "create_only",
    "Account.OwnerId": "salesforce",
    "Contact.OwnerId": "salesforce",
    "Account.Type": "salesforce",
    "Account.Industry": "salesforce",
    "Account.Description": "salesforce",
    "Account.Website": "salesforce",
    "Account.Rating": "salesforce",
    "Account.BillingStreet": "salesforce",
    "Account.BillingCity": "salesforce",
    "Account.BillingState": "salesforce",
    "Account.BillingPostalCode": "salesforce",
    "Account.BillingCountry": "salesforce",
    "Contact.Title": "salesforce",
    "Contact.Phone": "salesforce",
    "Contact.Description": "salesforce",
    "Opportunity.StageName": "salesforce",
}


class SyncConfig(_Strict):
    objects: ObjectsConfig = ObjectsConfig()
    matching: MatchingConfig = MatchingConfig()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()
    failed_payments: FailedPaymentsConfig = FailedPaymentsConfig()
    disputes: DisputesConfig = DisputesConfig()
    sync: SyncOptions = SyncOptions()
    org: OrgConfig = OrgConfig()
    ownership: dict[str, Owner] = Field(default_factory=dict)
    # Object -> the DeveloperName (or the 012 Id) of the record type of the records stripe2sf
    # creates; names are turned into Ids once per process (`domain.org_profile`). Objects
    # not listed get the user's default record type.
    record_types: dict[str, str] = Field(default_factory=dict)
    mappings: tuple[FieldMapping, ...] = ()
    replace_default_mappings: bool = False
    # Salesforce-owned fields -> the linked Stripe customer (`domain.reverse`)
    salesforce_to_stripe: ReverseConfig = ReverseConfig()
    # Opportunity stage / Stripe_Request__c -> Stripe objects (`domain.actions`)
    actions: ActionsConfig = ActionsConfig()

    def record_type_id(self, sobject: str) -> str | None:
        """The Id of the record type stripe2sf gives new `sobject` records (None: the user's
        default; also before a DeveloperName is resolved, and for person accounts, whose
        record type `[org]` sets)."""
        if sobject == "Account" and self.org.account_model == "person":
            return None
        value = self.record_types.get(sobject)
        return value if value is not None and is_record_type_id(value) else None

    @cached_property
    def _ownership(self) -> Mapping[str, Owner]:
        merged = dict(DEFAULT_OWNERSHIP)
        merged.update(self.ownership)
        return merged

    @property
    def effective_ownership(self) -> dict[str, Owner]:
        return dict(self._ownership)

    @cached_property
    def effective_mappings(self) -> tuple[FieldMapping, ...]:
        """Defaults (unless replaced) overridden by configured mappings with the same target;
        per-subscription mappings only when per-subscription records are on."""
        chosen: dict[str, FieldMapping] = {}
        if not self.replace_default_mappings:
            for m in default_mappings(self.objects):
                chosen[m.target] = m
        for m in self.mappings:
            chosen[m.target] = m
        sub_obj = self.objects.subscription_object
        return tuple(
            m
            for m in chosen.values()
            if self.subscriptions.per_subscription_records or m.target_object != sub_obj
        )

    @cached_property
    def field_limits(self) -> Mapping[tuple[str, str], FieldLimit]:
        """Lengths of the fields this config writes (`schema.field_limits`), computed once:
        the planner checks every value of every record against them."""
        from stripe2sf.domain.setup.schema import field_limits  # schema imports this module

        return field_limits(self)

    @property
    def multi_currency(self) -> bool:
        """Records carry CurrencyIsoCode (an "auto" not resolved yet counts as off)."""
        return self.org.multi_currency is True

    @property
    def person_accounts(self) -> bool:
        """New customers become person accounts (an "auto" not resolved yet counts as off)."""
        return self.org.account_model == "person"

    def owner_of(self, sobject: str, field: str) -> Owner:
        return self._ownership.get(f"{sobject}.{field}", "stripe")

    def can_write(self, sobject: str, field: str, *, creating: bool) -> bool:
        """Whether stripe2sf may write this field (create_only fields only on creation)."""
        owner = self.owner_of(sobject, field)
        return owner == "stripe" or (owner == "create_only" and creating)

    def mappings_for(self, source_obj: str, target_obj: str) -> tuple[FieldMapping, ...]:
        return tuple(
            m
            for m in self.effective_mappings
            if m.source_object == source_obj and m.target_object == target_obj
        )

    @cached_property
    def _writable(self) -> dict[tuple[str, str, bool], tuple[WritableMapping, ...]]:
        """``writable_mappings`` answers, by (source object, target object, creating)."""
        return {}

    def writable_mappings(
        self, source_obj: str, target_obj: str, *, creating: bool
    ) -> tuple[WritableMapping, ...]:
        """(source, target field, transform, values) of the mappings from `source_obj` to
        `target_obj` that have an allowed source and that stripe2sf may write (creating or
        not): decided once per config, not per record (planning asks for every record)."""
        key = (source_obj, target_obj, creating)
        found = self._writable.get(key)
        if found is None:
            self._writable[key] = found = tuple(
                (m.source, m.target_field, m.effective_transform, m.values)
                for m in self.mappings_for(source_obj, target_obj)
                if source_spec(m.source) is not None
                and self.can_write(target_obj, m.target_field, creating=creating)
            )
        return found

    def dunning_object(self) -> str:
        return "Task" if self.failed_payments.record == "task" else "Case"

    def structural_fields(self) -> dict[str, set[str]]:
        """Fields the planner writes itself (keys, lookups, statuses), per object."""
        o = self.objects
        dunning = {o.dedupe_key_field, o.resolved_at_field, o.resolution_minutes_field}
        return {
            "Account": {o.customer_id_field, o.billing_status_field},
            "Contact": {o.customer_id_field, "AccountId"},
            o.payment_object: {
                o.payment_key_field,
                o.payment_account_field,
                o.payment_contact_field,
            },
            o.subscription_object: {o.subscription_key_field, o.subscription_account_field},
            "Task": dunning
            | {
                "Subject",
                "Description",
                "Priority",
                "Status",
                "OwnerId",
                "WhatId",
                "WhoId",
                "ActivityDate",
            },
            "Case": dunning
            | {
                "Subject",
                "Description",
                "Priority",
                "Status",
                "OwnerId",
                "AccountId",
                "ContactId",
                "Origin",
            },
        }


def is_record_type_id(value: str) -> bool:
    """A record type Id (15 or 18 characters, prefix 012), not a DeveloperName."""
    return value.startswith("012") and len(value) in (15, 18) and value.isalnum()


def _is_api_name(value: str) -> bool:
    return bool(value) and value.replace("_", "").isalnum() and not value[0].isdigit()


def _target_objects(config: SyncConfig, source_obj: str) -> set[str]:
    o = config.objects
    return {
        "charge": {o.payment_object},
        "customer": {"Account", "Contact"},
        "subscription": {"Account", o.subscription_object},
        "payment_method": {"Account"},
        "invoice": {"Task", "Case"},
        "dispute": {"Case"},
    }.get(source_obj, set())


def check_config(config: SyncConfig) -> list[str]:
    """Cross-setting rules pydantic cannot express; returns one message per problem."""
    problems: list[str] = []
    ownership = config.effective_ownership
    for i, m in enumerate(config.mappings):
        where = f"mappings[{i}] ({m.source} -> {m.target})"
        if "." not in m.target or m.target.count(".") != 1:
            problems.append(f"{where}: target: expected 'Object.Field', got {m.target!r}")
            continue
        if is_forbidden_path(m.source) or is_forbidden_path(m.target_field):
            problems.append(
                f"{where}: refused: looks like card data (card number, CVC, fingerprint); "
                "only card brand, last 4 and expiry may leave Stripe"
            )
            continue
        spec = source_spec(m.source)
        if spec is None:
            problems.append(
                f"{where}: source: {m.source!r} is not an allow-listed Stripe path; expected "
                "one of the documented sources (see `stripe2sf mapping export`) or "
                "<charge|customer|subscription|invoice>.metadata.<key>"
            )
            continue
        if not all(_is_api_name(part) for part in (m.target_object, m.target_field)):
            problems.append(f"{where}: target: expected Salesforce API names, got {m.target!r}")
            continue
        allowed = _target_objects(config, m.source_object)
        if m.source_object == "invoice":
            allowed = {config.dunning_object()}
        if m.target_object not in allowed:
            problems.append(
                f"{where}: target: {m.source_object} values can only go to "
                f"{sorted(allowed)}, not {m.target_object}"
            )
        if ownership.get(m.target) == "salesforce":
            problems.append(
                f"{where}: target: {m.target} is owned by Salesforce "
                f'([ownership] "{m.target}" = "salesforce"); stripe2sf never writes it. '
                "Remove the mapping or change the ownership."
            )
        transform = m.effective_transform
        if transform == "money" and spec.kind not in ("money", "decimal_money"):
            problems.append(f"{where}: transform: 'money' needs an amount source, got {spec.kind}")
        if transform in ("datetime", "date") and spec.kind != "timestamp":
            problems.append(
                f"{where}: transform: {transform!r} needs a timestamp source, got {spec.kind}"
            )
        if transform == "picklist" and not m.values:
            problems.append(f"{where}: values: a picklist transform needs a values table")
    for name, structural in config.structural_fields().items():
        for field in sorted(structural):
            if ownership.get(f"{name}.{field}") == "salesforce" and field not in (
                "OwnerId",
                "Subject",
                "Description",
                "Priority",
                "Status",
            ):
                problems.append(
                    f'ownership."{name}.{field}": stripe2sf needs to write {name}.{field} '
                    "(a key, lookup or status field); it cannot be owned by Salesforce"
                )
    for sobject, record_type in config.record_types.items():
        if not _is_api_name(sobject) or not (
            _is_api_name(record_type) or is_record_type_id(record_type)
        ):
            problems.append(
                f'record_types."{sobject}": expected an object API name = a record type\'s '
                f"DeveloperName or its Id (012...), got {sobject!r} = {record_type!r}"
            )
    fp = config.failed_payments
    if fp.owner == "queue" and not fp.queue:
        problems.append("failed_payments.queue: expected a queue name when owner = 'queue'")
    if fp.owner == "queue" and fp.record == "task":
        problems.append(
            "failed_payments.owner: Salesforce cannot assign a Task to a queue; "
            "use record = 'case' or owner = 'account_owner'"
        )
    if config.disputes.owner == "queue" and not config.disputes.queue:
        problems.append("disputes.queue: expected a queue name when owner = 'queue'")
    problems.extend(reverse_problems(config))
    return problems


def _format_pydantic(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            problems.append(f"{loc}: unknown setting")
            continue
        msg = item["msg"].replace("Input should be", "expected")
        problems.append(f"{loc}: {msg}; got {item.get('input')!r}")
    return problems


def from_mapping(data: Mapping[str, Any]) -> SyncConfig:
    """Validate a parsed TOML document; raises ConfigError listing every problem."""
    try:
        config = SyncConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_format_pydantic(exc)) from None
    problems = check_config(config)
    if problems:
        raise ConfigError(problems)
    return config


def from_toml_text(text: str) -> SyncConfig:
    """Parse and validate `stripe2sf.toml` text; an empty text gives the default config."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"stripe2sf.toml is not valid TOML: {exc}"]) from None
    return from_mapping(data)


def default_config() -> SyncConfig:
    return SyncConfig()
