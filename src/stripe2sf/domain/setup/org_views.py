"""What people see of stripe2sf in the org: list views and a page layout (pure specs).

* Accounts "Stripe - Past Due" (subscription status Past Due) and "Stripe - Payment Overdue"
  (billing status Payment Overdue): the collections team's work lists.
* Payments "Stripe - Last 30 Days" (paid in the last 30 days) on the payment object.
* The layout ``Account-Stripe Account Layout``: the Account's usual fields, a "Stripe" section
  with every Account field stripe2sf writes (read only on the page: Stripe owns them), and the
  Payments related list (newest first) beside Contacts, Cases and Activities.

The layout is a separate, named layout on purpose: deploying ``Account-Account Layout`` would
replace the org's own. An admin assigns it to profiles (Setup > Object Manager > Account >
Page Layouts > Page Layout Assignment), or copies its Stripe section into their layout.

Field names come from the configuration (object names, mappings, picklist values); a view
whose field the configuration does not write is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe2sf.domain.config import BILLING_OVERDUE, SUBSCRIPTION_STATUS_VALUES, SyncConfig
from stripe2sf.domain.setup.schema import required_fields

ACCOUNT_LAYOUT = "Account-Stripe Account Layout"


@dataclass(frozen=True)
class ListFilter:
    field: str
    operation: str
    value: str


@dataclass(frozen=True)
class ListViewSpec:
    sobject: str
    name: str  # API name (the file name)
    label: str
    columns: tuple[str, ...]
    filters: tuple[ListFilter, ...]


@dataclass(frozen=True)
class RelatedListSpec:
    name: str  # Child.LookupField, or a standard list such as RelatedContactList
    fields: tuple[str, ...] = ()
    sort_field: str | None = None
    sort_order: str = "Desc"


@dataclass(frozen=True)
class LayoutItem:
    field: str
    behavior: str  # Required, Edit, Readonly


@dataclass(frozen=True)
class LayoutSection:
    label: str
    columns: tuple[tuple[LayoutItem, ...], ...]
    custom_label: bool = False
    detail_heading: bool = True


@dataclass(frozen=True)
class LayoutSpec:
    name: str  # <Object>-<Layout Name>
    sections: tuple[LayoutSection, ...]
    related_lists: tuple[RelatedListSpec, ...]


def mapped_field(config: SyncConfig, source: str, sobject: str) -> str | None:
    """The field of `sobject` that the mapping from Stripe `source` writes, if any."""
    for m in config.effective_mappings:
        if m.source == source and m.target_object == sobject:
            return m.target_field
    return None


def _status_value(config: SyncConfig, stripe_status: str) -> str:
    o = config.objects
    for m in config.effective_mappings:
        if m.source == "subscription.status" and m.target_field == o.subscription_status_field:
            return (m.values or SUBSCRIPTION_STATUS_VALUES).get(stripe_status, stripe_status)
    return SUBSCRIPTION_STATUS_VALUES[stripe_status]


def _payment_columns(config: SyncConfig) -> tuple[str, ...]:
    pay = config.objects.payment_object
    wanted = ("charge.created", "charge.amount", "charge.currency", "charge.status")
    mapped = [mapped_field(config, source, pay) for source in wanted]
    return tuple(f for f in mapped if f)


def list_views(config: SyncConfig) -> list[ListViewSpec]:
    o = config.objects
    account_columns = (
        "ACCOUNT.NAME",
        o.subscription_status_field,
        o.billing_status_field,
        *(f for f in [mapped_field(config, "subscription.mrr", "Account")] if f),
        "CORE.USERS.ALIAS",
    )
    views = [
        ListViewSpec(
            "Account",
            "Stripe_Past_Due",
            "Stripe - Past Due",
            account_columns,
            (ListFilter(o.subscription_status_field, "equals", _status_value(config, "past_due")),),
        ),
        ListViewSpec(
            "Account",
            "Stripe_Payment_Overdue",
            "Stripe - Payment Overdue",
            account_columns,
            (ListFilter(o.billing_status_field, "equals", BILLING_OVERDUE),),
        ),
    ]
    paid_at = mapped_field(config, "charge.created", o.payment_object)
    if paid_at:
        views.append(
            ListViewSpec(
                o.payment_object,
                "Stripe_Last_30_Days",
                "Stripe - Last 30 Days",
                ("NAME", o.payment_account_field, *_payment_columns(config)),
                (ListFilter(paid_at, "equals", "LAST_N_DAYS:30"),),
            )
        )
    return views


def _two_columns(items: list[LayoutItem]) -> tuple[tuple[LayoutItem, ...], ...]:
    half = (len(items) + 1) // 2
    return (tuple(items[:half]), tuple(items[half:]))


def account_layout(config: SyncConfig) -> LayoutSpec:
    o = config.objects
    stripe_fields = [s.name for s in required_fields(config) if s.sobject == "Account"]
    first = [o.customer_id_field, o.subscription_status_field, o.billing_status_field]
    ordered = [*(f for f in first if f in stripe_fields)]
    ordered += [f for f in stripe_fields if f not in ordered]
    account_info = LayoutSection(
        "Account Information",
        (
            (
                LayoutItem("Name", "Required"),
                LayoutItem("Phone", "Edit"),
                LayoutItem("Website", "Edit"),
            ),
            (
                LayoutItem("OwnerId", "Edit"),
                LayoutItem("Type", "Edit"),
                LayoutItem("Industry", "Edit"),
            ),
        ),
    )
    stripe = LayoutSection(
        "Stripe",
        _two_columns([LayoutItem(f, "Readonly") for f in ordered]),
        custom_label=True,
    )
    system = LayoutSection(
        "System Information",
        ((LayoutItem("CreatedById", "Readonly"),), (LayoutItem("LastModifiedById", "Readonly"),)),
        detail_heading=False,
    )
    paid_at = mapped_field(config, "charge.created", o.payment_object)
    payments = RelatedListSpec(
        f"{o.payment_object}.{o.payment_account_field}",
        ("NAME", *_payment_columns(config)),
        paid_at,
    )
    return LayoutSpec(
        ACCOUNT_LAYOUT,
        (account_info, stripe, system),
        (
            RelatedListSpec("RelatedContactList"),
            payments,
            RelatedListSpec("RelatedCaseList"),
            RelatedListSpec("RelatedActivityList"),
            RelatedListSpec("RelatedHistoryList"),
        ),
    )
