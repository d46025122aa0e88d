"""The older-API-version table and its down-converter (pure; no server): the version list
against the SDK's, each change's effect, and the converted shapes against real webhook
events of those versions in the shared reference data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stripe_sandbox import rendering, shapes, versions
from stripe_sandbox.errors import InvalidRequestError
from tests.support.reference import STRIPE_EVENTS

LISTED = ["2020-08-27", "2022-11-15", "2023-10-16", "2024-06-20", "2025-03-31.basil"]


# ---- today's objects, as the sandbox builds them ----------------------------------------------


def _price() -> dict[str, Any]:
    price = shapes.price("price_1", 1_700_000_000, "prod_1", "usd", 900)
    price["recurring"] = shapes.recurring("month", 1, None)
    price["type"] = "recurring"
    return price


def _charge() -> dict[str, Any]:
    card = shapes.card_details("visa", "4242", 12, 2030, "fp_1")
    charge = shapes.charge("ch_1", 1_700_000_000, 2_500, "usd")
    charge.update(
        customer="cus_1",
        payment_intent="pi_1",
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=2_500,
        payment_method_details=shapes.charge_card_details(card, 2_500, "ntx"),
        outcome=shapes.outcome(
            type="authorized",
            network_status="approved_by_network",
            reason=None,
            seller_message="Payment complete.",
        ),
    )
    return charge


def _intent() -> dict[str, Any]:
    pi = shapes.payment_intent("pi_1", 1_700_000_000, 2_500, "usd", "s3cr3t")
    pi.update(customer="cus_1", status="succeeded", latest_charge="ch_1", amount_received=2_500)
    return pi


def _subscription() -> dict[str, Any]:
    sub = shapes.subscription("sub_1", 1_700_000_000, "cus_1", "usd")
    item = shapes.subscription_item(
        "si_1", 1_700_000_000, "sub_1", _price(), 2, 1_700_000_000, 1_702_592_000
    )
    sub["items"]["data"] = [item]
    sub["items"]["total_count"] = 1
    sub["status"] = "active"
    return sub


def _invoice(status: str = "paid") -> dict[str, Any]:
    inv = shapes.invoice("in_1", 1_700_000_000, {"id": "cus_1", "email": "a@b.example"}, "usd")
    inv["parent"] = {
        "quote_details": None,
        "subscription_details": {
            "metadata": {"seats": "2"},
            "subscription": "sub_1",
            "subscription_proration_date": None,
        },
        "type": "subscription_details",
    }
    parent = {
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": None,
            "proration": False,
            "proration_details": {"credited_items": None},
            "subscription": "sub_1",
            "subscription_item": "si_1",
        },
        "type": "subscription_item_details",
    }
    line = shapes.line_item(
        "il_1", "in_1", 1_800, "usd", "2 x Pro", 2, 1, 2, parent, _price(), "sub_1"
    )
    inv["lines"]["data"] = [line]
    inv.update(status=status, amount_due=1_800, amount_paid=1_800 if status == "paid" else 0)
    return inv


def _customer() -> dict[str, Any]:
    cust = shapes.customer("cus_1", 1_700_000_000)
    cust["email"] = "a@b.example"
    return cust


def _product() -> dict[str, Any]:
    product = shapes.product("prod_1", 1_700_000_000, "Pro")
    product["marketing_features"] = [{"name": "Unlimited"}]
    return product


SAMPLES = {
    "charge": _charge,
    "payment_intent": _intent,
    "subscription": _subscription,
    "invoice": _invoice,
    "customer": _customer,
    "product": _product,
    "payment_method": lambda: shapes.payment_method(
        "pm_1", 1, shapes.card_details("visa", "4242", 12, 2030, "fp_1")
    ),
    "refund": lambda: shapes.refund("re_1", 1, 500, "usd"),
    "dispute": lambda: shapes.dispute("dp_1", 1, 500, "usd", "ch_1"),
    "price": _price,
    "plan": lambda: shapes.plan_from_price(_price()),
}

# what the store would answer (``rendering.SOURCES``) for these objects
FACTS: dict[str, dict[str, Any]] = {
    "ch_1": {"invoice": "in_1"},
    "pi_1": {"invoice": "in_1", "charges": {"object": "list", "data": [_charge()]}},
    "in_1": {"charge": "ch_1", "payment_intent": "pi_1"},
    "il_1": {"price": _price()},
    "cus_1": {"subscriptions": {"object": "list", "data": [_subscription()]}},
}


# ---- the version list ---------------------------------------------------------------------


def test_published_versions_are_the_sdks() -> None:
    from stripe.params import WebhookEndpointCreateParams

    declared = str(WebhookEndpointCreateParams.__annotations__["api_version"])
    sdk = set(re.findall(r"\d{4}-\d{2}-\d{2}(?:\.[a-z]+)?", declared))
    assert set(versions.STRIPE_VERSIONS) == sdk
    assert versions.STRIPE_VERSIONS[-1] == versions.CURRENT == shapes.API_VERSION
    assert set(LISTED) <= set(versions.RENDERED)


def test_table_is_newest_first_of_real_versions_and_every_fact_has_a_source() -> None:
    keys = [r.version for r in versions.TABLE]
    assert all(v in versions.STRIPE_VERSIONS for v in keys)
    assert keys == sorted(keys, reverse=True)
    facts = {
        (change.object, derive.fact)
        for release in versions.TABLE
        for change in release.changes
        for derive in change.removed.values()
        if derive.fact
    }
    assert facts == set(rendering.SOURCES)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("2099-01-01", "Invalid Stripe API version: 2099-01-01"),
        ("2025-09-30.acacia", "Invalid Stripe API version: 2025-09-30.acacia"),
        ("2019-12-03", "renders versions from 2020-03-02"),
    ],
)
def test_unknown_and_unrendered_versions_are_refused(version: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        versions.check(version)
    assert message in info.value.message
    with pytest.raises(InvalidRequestError) as info:
        versions.check_param(version, "api_version")
    assert info.value.param == "api_version"


# ---- what each change does ----------------------------------------------------------------


def test_current_version_is_today_shape_untouched() -> None:
    inv = _invoice()
    assert versions.down_convert(inv, versions.CURRENT, FACTS) is inv


def test_before_basil_invoice_carries_subscription_charge_intent_and_paid() -> None:
    inv = _invoice()
    old = versions.down_convert(inv, "2024-06-20", FACTS)
    assert old["subscription"] == "sub_1" and old["subscription_details"] == {
        "metadata": {"seats": "2"}
    }
    assert old["charge"] == "ch_1" and old["payment_intent"] == "pi_1"
    assert old["paid"] is True and old["paid_out_of_band"] is False
    for gone in ("parent", "total_taxes", "amount_overpaid", "amount_paid_off_stripe"):
        assert gone not in old
    [line] = old["lines"]["data"]
    assert line["type"] == "subscription" and line["subscription_item"] == "si_1"
    assert line["price"]["id"] == "price_1" and line["plan"]["interval"] == "month"
    assert "parent" not in line and "pricing" not in line
    assert "parent" in inv and "subscription" not in inv, "the input is not changed"
    open_one = versions.down_convert(_invoice("open"), "2024-06-20", {})
    assert open_one["paid"] is False and open_one["charge"] is None


def test_before_basil_subscription_period_is_top_level_not_on_items() -> None:
    old = versions.down_convert(_subscription(), "2025-02-24.acacia", FACTS)
    assert (old["current_period_start"], old["current_period_end"]) == (
        1_700_000_000,
        1_702_592_000,
    )
    [item] = old["items"]["data"]
    assert "current_period_end" not in item and "billed_until" not in item
    basil = versions.down_convert(_subscription(), "2025-03-31.basil", FACTS)
    assert "current_period_end" not in basil
    assert basil["items"]["data"][0]["current_period_end"] == 1_702_592_000


def test_before_2022_11_15_intent_lists_its_charges_and_has_no_latest_charge() -> None:
    old = versions.down_convert(_intent(), "2022-08-01", FACTS)
    assert "latest_charge" not in old
    assert [c["id"] for c in old["charges"]["data"]] == ["ch_1"]
    # the charges inside are in that version's shape too
    assert old["charges"]["data"][0]["invoice"] == "in_1"
    assert "presentment_details" not in old["charges"]["data"][0]
    assert old["invoice"] == "in_1"
    newer = versions.down_convert(_intent(), "2022-11-15", FACTS)
    assert newer["latest_charge"] == "ch_1" and "charges" not in newer


def test_before_2020_08_27_customer_includes_sources_subscriptions_and_tax_ids() -> None:
    old = versions.down_convert(_customer(), "2020-03-02", FACTS)
    assert old["sources"]["url"] == "/v1/customers/cus_1/sources"
    assert [s["id"] for s in old["subscriptions"]["data"]] == ["sub_1"]
    assert "current_period_end" in old["subscriptions"]["data"][0]
    assert old["tax_ids"]["data"] == []
    assert "sources" not in versions.down_convert(_customer(), "2020-08-27", FACTS)


def test_product_features_before_2024_04_10() -> None:
    old = versions.down_convert(_product(), "2023-10-16", {})
    assert old["features"] == [{"name": "Unlimited"}] and "marketing_features" not in old


def test_event_previous_attributes_follow_the_moved_fields() -> None:
    """A renewal moves the item's period today; an older endpoint sees the subscription's."""
    after = _subscription()
    item = after["items"]["data"][0]
    before_item = {
        **item,
        "current_period_start": 1_697_000_000,
        "current_period_end": 1_700_000_000,
    }
    event = shapes.event(
        "evt_1",
        1,
        "customer.subscription.updated",
        after,
        {"items": {**after["items"], "data": [before_item]}},
        None,
        None,
        1,
    )
    old = versions.convert_event(event, "2024-06-20", FACTS)
    assert old["api_version"] == "2024-06-20"
    assert old["data"]["previous_attributes"] == {
        "current_period_start": 1_697_000_000,
        "current_period_end": 1_700_000_000,
    }
    today = versions.convert_event(event, versions.CURRENT, FACTS)
    assert "items" in today["data"]["previous_attributes"]


@pytest.mark.parametrize("version", LISTED)
def test_every_object_renders_in_each_listed_version(version: str) -> None:
    for kind, build in SAMPLES.items():
        obj = build()
        out = versions.down_convert(obj, version, FACTS)
        assert out["object"] == kind and out["id"] == obj["id"]
        json.dumps(out)  # still plain JSON


# ---- against real events of those versions ------------------------------------------------

# The fields whose presence a breaking change of the table decides, per object type. (Fields
# added without breaking anything, such as `rendering_options` in 2022 or product `features`
# in 2023, reached every version after these events were captured, so the events cannot
# speak for them; the sandbox keeps a charge's `refunds` in every version.)
VERSIONED = {
    "invoice": ("subscription", "charge", "payment_intent", "paid", "tax_percent", "parent"),
    "subscription": ("current_period_start", "current_period_end", "tax_percent"),
    "payment_intent": ("charges", "latest_charge", "invoice"),
    "charge": ("invoice",),
    "customer": ("sources", "subscriptions", "tax_ids"),
    "product": ("marketing_features",),
}
# Reference files whose objects are newer than the api_version they are labelled with (hand
# written fixtures: payment intents with `latest_charge`, which 2022-11-15 introduced, and
# products with `marketing_features`, from 2024-04-10, under "2020-03-02"): not evidence.
MISLABELLED = ("stripe-sync-engine/payment_intent_", "stripe-sync-engine/product_")


def _reference_events() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(Path(STRIPE_EVENTS).rglob("*.json")):
        name = str(path.relative_to(STRIPE_EVENTS))
        if path.name in ("manifest.json",) or name.startswith(MISLABELLED):
            continue
        event = json.loads(path.read_text())
        if not isinstance(event, dict) or event.get("api_version") not in versions.RENDERED:
            continue
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("object") in VERSIONED and not obj.get("deleted"):
            out.append((name, event))
    return out


REFERENCE_EVENTS = _reference_events()


def test_reference_events_cover_old_and_new_versions() -> None:
    seen = {(e["api_version"], e["data"]["object"]["object"]) for _, e in REFERENCE_EVENTS}
    assert {("2020-08-27", t) for t in VERSIONED} <= seen
    assert ("2020-03-02", "customer") in seen and ("2026-04-22.dahlia", "subscription") in seen


@pytest.mark.parametrize(
    ("name", "event"), REFERENCE_EVENTS, ids=[name for name, _ in REFERENCE_EVENTS]
)
def test_converted_shape_has_the_versioned_fields_the_real_event_has(
    name: str, event: dict[str, Any]
) -> None:
    ref = event["data"]["object"]
    kind = ref["object"]
    ours = versions.down_convert(SAMPLES[kind](), event["api_version"], FACTS)
    for field in VERSIONED[kind]:
        assert (field in ours) == (field in ref), (
            f"{field} on {kind} in {event['api_version']}: reference {name} "
            f"{'has' if field in ref else 'lacks'} it"
        )
    if kind == "subscription":
        ref_item, our_item = ref["items"]["data"][0], ours["items"]["data"][0]
        assert ("current_period_end" in ref_item) == ("current_period_end" in our_item)
