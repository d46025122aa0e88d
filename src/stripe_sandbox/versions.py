"""Older Stripe API versions: which fields each version added, dropped or moved on the objects
stripe2sf reads, as one declarative table, and a pure down-converter from today's shape.

The sandbox keeps every object in the shape of ``shapes.API_VERSION``. A response (the
``Stripe-Version`` header, else the account's default version) or a webhook payload (the
endpoint's ``api_version``, else the account default when the event was made) for an older
version is that object run through ``down_convert``: for every release newer than the version
asked for, newest first, the fields the release added are dropped and the fields it removed
are put back, computed from today's fields (a moved field) or from ``facts`` the caller read
from the store (a field today's object no longer carries, such as an invoice's charge).

What each release changed on these objects (from Stripe's changelog and the SDKs' change
lists; "+" added in that version, so absent before it; "-" removed in it, so present before):

- 2026-05-27.dahlia  invoice +amount_paid_off_stripe; subscription +billing_schedules;
  subscription_item +billed_until
- 2026-04-22.dahlia  payment_intent, subscription +managed_payments
- 2026-03-25.dahlia  invoiceitem, line_item +quantity_decimal
- 2025-12-15.clover  customer, invoice, invoiceitem, payment_intent, payment_method,
  subscription +customer_account; line_item +subtotal
- 2025-11-17.clover  payment_intent +hooks
- 2025-10-29.clover  payment_intent +payment_details
- 2025-09-30.clover  customer +business_name +individual_name; invoiceitem +net_amount
  +proration_details; subscription +billing_mode.flexible
- 2025-08-27.basil   payment_intent +excluded_payment_method_types
- 2025-06-30.basil   subscription +billing_mode
- 2025-05-28.basil   subscription, subscription_item +billing_thresholds (back again)
- 2025-04-30.basil   refund +pending_reason; invoice +automatic_tax.provider
- 2025-03-31.basil   the billing overhaul:
  invoice -subscription -subscription_details -subscription_proration_date -quote (moved to
  ``parent``), -charge -payment_intent -paid -paid_out_of_band (now ``payments`` and
  ``status``), -tax -total_tax_amounts (now ``total_taxes``), -discount,
  -application_fee_amount -transfer_data; +parent +total_taxes +amount_overpaid;
  subscription -current_period_start -current_period_end (moved to each item) -discount
  -billing_thresholds; subscription_item +current_period_start +current_period_end
  -billing_thresholds; line_item -type -price -plan -proration -proration_details
  -subscription_item -invoice_item -tax_amounts -tax_rates -amount_excluding_tax
  -unit_amount_excluding_tax (now ``parent``, ``pricing``, ``taxes``) +parent +pricing +taxes;
  invoiceitem -price -plan -subscription -subscription_item -unit_amount
  -unit_amount_decimal +parent +pricing; charge, payment_intent -invoice
  +presentment_details; refund +presentment_details; price.recurring, plan -aggregate_usage
- 2024-12-18.acacia  charge +outcome.advice_code +outcome.network_advice_code
  +outcome.network_decline_code +payment_method_details.card.network_transaction_id
  +payment_method_details.card.regulated_status; payment_method +card.regulated_status;
  invoice, subscription +automatic_tax.disabled_reason
- 2024-10-28.acacia  dispute +enhanced_eligibility_types +evidence.enhanced_evidence
  +evidence_details.enhanced_eligibility
  (From 2024-09-30.acacia on, new fields come only with the version that adds them; before,
  additions reached every version, so older versions keep today's older additions.)
- 2024-04-10         product -features (renamed marketing_features) +marketing_features;
  invoice -rendering_options (use ``rendering``)
- 2022-11-15         payment_intent -charges (the list of its charges) +latest_charge;
  charge: ``refunds`` no longer included by default (included before)
- 2020-08-27         customer: ``sources``, ``subscriptions``, ``tax_ids`` no longer included
  by default (included before); subscription, invoice -tax_percent; plan: ``tiers`` no longer
  included by default
- 2024-06-20, 2023-10-16, 2023-08-16, 2022-08-01 and the acacia to endive releases not listed
  change nothing on these objects' shapes (their breaking changes are in Checkout, Connect,
  Issuing, Terminal, request parameters or defaults).

Versions older than ``OLDEST`` (2020-03-02) are real Stripe versions that this sandbox does not
render; a version Stripe never published answers 400 "Invalid Stripe API version", as Stripe
does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stripe_sandbox.errors import InvalidRequestError
from stripe_sandbox.shapes import API_VERSION, plan_from_price

Obj = dict[str, Any]
# object id -> values of fields that today's object no longer carries (read from the store)
Facts = Mapping[str, Mapping[str, Any]]

CURRENT = API_VERSION
OLDEST = "2020-03-02"

# Every version Stripe has published up to CURRENT (the official SDK's enum of webhook endpoint
# API versions); `test_stripe_versions` keeps the two in step.
_PUBLISHED = (
    "2011-01-01 2011-06-21 2011-06-28 2011-08-01 2011-09-15 2011-11-17 2012-02-23 2012-03-25 "
    "2012-06-18 2012-06-28 2012-07-09 2012-09-24 2012-10-26 2012-11-07 2013-02-11 2013-02-13 "
    "2013-07-05 2013-08-12 2013-08-13 2013-10-29 2013-12-03 2014-01-31 2014-03-13 2014-03-28 "
    "2014-05-19 2014-06-13 2014-06-17 2014-07-22 2014-07-26 2014-08-04 2014-08-20 2014-09-08 "
    "2014-10-07 2014-11-05 2014-11-20 2014-12-08 2014-12-17 2014-12-22 2015-01-11 2015-01-26 "
    "2015-02-10 2015-02-16 2015-02-18 2015-03-24 2015-04-07 2015-06-15 2015-07-07 2015-07-13 "
    "2015-07-28 2015-08-07 2015-08-19 2015-09-03 2015-09-08 2015-09-23 2015-10-01 2015-10-12 "
    "2015-10-16 2016-02-03 2016-02-19 2016-02-22 2016-02-23 2016-02-29 2016-03-07 2016-06-15 "
    "2016-07-06 2016-10-19 2017-01-27 2017-02-14 2017-04-06 2017-05-25 2017-06-05 2017-08-15 "
    "2017-12-14 2018-01-23 2018-02-05 2018-02-06 2018-02-28 2018-05-21 2018-07-27 2018-08-23 "
    "2018-09-06 2018-09-24 2018-10-31 2018-11-08 2019-02-11 2019-02-19 2019-03-14 2019-05-16 "
    "2019-08-14 2019-09-09 2019-10-08 2019-10-17 2019-11-05 2019-12-03 2020-03-02 2020-08-27 "
    "2022-08-01 2022-11-15 2023-08-16 2023-10-16 2024-04-10 2024-06-20 2024-09-30.acacia "
    "2024-10-28.acacia 2024-11-20.acacia 2024-12-18.acacia 2025-01-27.acacia 2025-02-24.acacia "
    "2025-03-01.dashboard 2025-03-31.basil 2025-04-30.basil 2025-05-28.basil 2025-06-30.basil "
    "2025-07-30.basil 2025-08-27.basil 2025-09-30.clover 2025-10-29.clover 2025-11-17.clover "
    "2025-12-15.clover 2026-01-28.clover 2026-02-25.clover 2026-03-25.dahlia 2026-04-22.dahlia "
    "2026-05-27.dahlia 2026-06-24.dahlia 2026-07-29.dahlia 2026-08-26.dahlia 2026-09-30.endive "
    "2026-10-28.endive"
)
STRIPE_VERSIONS: tuple[str, ...] = tuple(_PUBLISHED.split())


def _key(version: str) -> str:
    return version[:10]


# the versions this sandbox renders, oldest first (the Dashboard's own version is not one)
RENDERED: tuple[str, ...] = tuple(
    v for v in STRIPE_VERSIONS if _key(OLDEST) <= _key(v) and not v.endswith(".dashboard")
)


# ---- how a restored field gets its value ----------------------------------------------------


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


@dataclass(frozen=True)
class Derive:
    """The value of a field an older version has and today's object lacks. ``fact`` names a
    value the caller reads from the store (``Facts``); otherwise ``fn`` computes it from the
    object (as it stands at that step of the conversion)."""

    fn: Callable[[Obj, Mapping[str, Any]], Any]
    fact: str | None = None


def const(value: Any) -> Derive:
    return Derive(lambda obj, facts: copy.deepcopy(value))


def moved(path: str, default: Any = None) -> Derive:
    """The field lives at ``path`` today."""

    def read(obj: Obj, facts: Mapping[str, Any]) -> Any:
        value = _get(obj, path)
        return copy.deepcopy(value) if value is not None else default

    return Derive(read)


def fact(name: str, default: Any = None) -> Derive:
    """A value read from the store by the caller (see ``stripe_sandbox.rendering``)."""
    return Derive(lambda obj, facts: copy.deepcopy(facts.get(name, default)), fact=name)


def computed(fn: Callable[[Obj], Any]) -> Derive:
    return Derive(lambda obj, facts: fn(obj))


def _list(url: str, data: list[Any] | None = None) -> Obj:
    rows = data or []
    return {"object": "list", "data": rows, "has_more": False, "total_count": len(rows), "url": url}


def _invoice_paid(inv: Obj) -> bool:
    return inv.get("status") == "paid"


def _invoice_tax(inv: Obj) -> int | None:
    taxes = inv.get("total_taxes") or []
    return sum(int(t.get("amount") or 0) for t in taxes) if taxes else None


def _invoice_tax_amounts(inv: Obj) -> list[Obj]:
    return [
        {
            "amount": t.get("amount"),
            "inclusive": t.get("tax_behavior") == "inclusive",
            "tax_rate": _get(t, "tax_rate_details.tax_rate"),
            "taxability_reason": t.get("taxability_reason"),
            "taxable_amount": t.get("taxable_amount"),
        }
        for t in inv.get("total_taxes") or []
    ]


def _subscription_details(inv: Obj) -> Obj | None:
    details = _get(inv, "parent.subscription_details")
    return {"metadata": copy.deepcopy(details.get("metadata"))} if details else None


def _first_item(sub: Obj, name: str) -> Any:
    rows = _get(sub, "items.data") or []
    values = [
        int(row[name]) for row in rows if isinstance(row, Mapping) and row.get(name) is not None
    ]
    if not values:
        return None
    return min(values) if name == "current_period_start" else max(values)


def _line_parent(line: Obj) -> Obj:
    parent = line.get("parent") or {}
    kind = parent.get("type")
    details = parent.get(kind) if isinstance(kind, str) else None
    return details if isinstance(details, dict) else {}


def _line_type(line: Obj) -> str:
    kind = _get(line, "parent.type")
    return "subscription" if kind == "subscription_item_details" else "invoiceitem"


def _plan_of(price: Any) -> Obj | None:
    if isinstance(price, Mapping) and price.get("recurring"):
        return plan_from_price(dict(price))
    return None


def _price_fact() -> Derive:
    return fact("price")


def _plan_from_price_fact() -> Derive:
    return Derive(lambda obj, facts: _plan_of(facts.get("price")), fact="price")


def _unit_amount(item: Obj) -> int | None:
    decimal = _get(item, "pricing.unit_amount_decimal")
    try:
        return int(float(decimal)) if decimal is not None else None
    except ValueError:
        return None


def _three_d_secure_flags(charge: Obj) -> Any:
    return _get(charge, "payment_method_details.card.three_d_secure")


def _refunds_list(charge: Obj) -> Obj:
    existing = charge.get("refunds")
    if isinstance(existing, Mapping):
        return copy.deepcopy(dict(existing))
    return _list(f"/v1/charges/{charge.get('id')}/refunds")


# ---- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What one release changed on one object type. ``added``: fields (dotted paths for nested
    ones) that first appear in it, dropped when rendering an older version. ``removed``: fields
    that it took away, restored (with their derived value) for older versions."""

    object: str
    added: tuple[str, ...] = ()
    removed: Mapping[str, Derive] = field(default_factory=dict)


@dataclass(frozen=True)
class Release:
    version: str
    changes: tuple[Change, ...]


TABLE: tuple[Release, ...] = (
    Release(
        "2026-05-27.dahlia",
        (
            Change("invoice", added=("amount_paid_off_stripe",)),
            Change("subscription", added=("billing_schedules",)),
            Change("subscription_item", added=("billed_until",)),
        ),
    ),
    Release(
        "2026-04-22.dahlia",
        (
            Change("payment_intent", added=("managed_payments",)),
            Change("subscription", added=("managed_payments",)),
        ),
    ),
    Release(
        "2026-03-25.dahlia",
        (
            Change("invoiceitem", added=("quantity_decimal",)),
            Change("line_item", added=("quantity_decimal",)),
        ),
    ),
    Release(
        "2025-12-15.clover",
        (
            *(
                Change(name, added=("customer_account",))
                for name in (
                    "customer",
                    "invoice",
                    "invoiceitem",
                    "payment_intent",
                    "payment_method",
                    "subscription",
                )
            ),
            Change("line_item", added=("subtotal",)),
        ),
    ),
    Release("2025-11-17.clover", (Change("payment_intent", added=("hooks",)),)),
    Release("2025-10-29.clover", (Change("payment_intent", added=("payment_details",)),)),
    Release(
        "2025-09-30.clover",
        (
            Change("customer", added=("business_name", "individual_name")),
            Change("invoiceitem", added=("net_amount", "proration_details")),
            Change("subscription", added=("billing_mode.flexible",)),
        ),
    ),
    Release(
        "2025-08-27.basil",
        (Change("payment_intent", added=("excluded_payment_method_types",)),),
    ),
    Release("2025-06-30.basil", (Change("subscription", added=("billing_mode",)),)),
    Release(
        "2025-05-28.basil",
        (
            Change("subscription", added=("billing_thresholds",)),
            Change("subscription_item", added=("billing_thresholds",)),
        ),
    ),
    Release(
        "2025-04-30.basil",
        (
            Change("refund", added=("pending_reason",)),
            Change("invoice", added=("automatic_tax.provider",)),
        ),
    ),
    Release(
        "2025-03-31.basil",
        (
            Change(
                "invoice",
                added=("parent", "total_taxes", "amount_overpaid", "payments"),
                removed={
                    "subscription": moved("parent.subscription_details.subscription"),
                    "subscription_details": computed(_subscription_details),
                    "subscription_proration_date": moved(
                        "parent.subscription_details.subscription_proration_date"
                    ),
                    "quote": moved("parent.quote_details.quote"),
                    "charge": fact("charge"),
                    "payment_intent": fact("payment_intent"),
                    "paid": computed(_invoice_paid),
                    "paid_out_of_band": computed(
                        lambda inv: bool(inv.get("amount_paid_off_stripe"))
                    ),
                    "tax": computed(_invoice_tax),
                    "total_tax_amounts": computed(_invoice_tax_amounts),
                    "discount": const(None),
                    "application_fee_amount": const(None),
                    "transfer_data": const(None),
                },
            ),
            Change(
                "subscription",
                removed={
                    "current_period_start": computed(
                        lambda s: _first_item(s, "current_period_start")
                    ),
                    "current_period_end": computed(lambda s: _first_item(s, "current_period_end")),
                    "discount": const(None),
                    "billing_thresholds": const(None),
                },
            ),
            Change(
                "subscription_item",
                added=("current_period_start", "current_period_end"),
                removed={"billing_thresholds": const(None)},
            ),
            Change(
                "line_item",
                added=("parent", "pricing", "taxes"),
                removed={
                    "type": computed(_line_type),
                    "price": _price_fact(),
                    "plan": _plan_from_price_fact(),
                    "proration": computed(lambda li: bool(_line_parent(li).get("proration"))),
                    "proration_details": computed(
                        lambda li: (
                            copy.deepcopy(_line_parent(li).get("proration_details"))
                            or {"credited_items": None}
                        )
                    ),
                    "subscription_item": computed(
                        lambda li: _line_parent(li).get("subscription_item")
                    ),
                    "invoice_item": computed(lambda li: _line_parent(li).get("invoice_item")),
                    "tax_amounts": const([]),
                    "tax_rates": const([]),
                    "amount_excluding_tax": moved("amount"),
                    "unit_amount_excluding_tax": moved("pricing.unit_amount_decimal"),
                },
            ),
            Change(
                "invoiceitem",
                added=("parent", "pricing"),
                removed={
                    "price": _price_fact(),
                    "plan": _plan_from_price_fact(),
                    "subscription": moved("parent.subscription_details.subscription"),
                    "subscription_item": moved("parent.subscription_details.subscription_item"),
                    "unit_amount": computed(_unit_amount),
                    "unit_amount_decimal": moved("pricing.unit_amount_decimal"),
                },
            ),
            Change(
                "charge",
                added=("presentment_details",),
                removed={"invoice": fact("invoice")},
            ),
            Change(
                "payment_intent",
                added=("presentment_details",),
                removed={"invoice": fact("invoice")},
            ),
            Change("refund", added=("presentment_details",)),
            Change("price", removed={"recurring.aggregate_usage": const(None)}),
            Change("plan", removed={"aggregate_usage": const(None)}),
        ),
    ),
    Release(
        "2024-12-18.acacia",
        (
            Change(
                "charge",
                added=(
                    "outcome.advice_code",
                    "outcome.network_advice_code",
                    "outcome.network_decline_code",
                    "payment_method_details.card.network_transaction_id",
                    "payment_method_details.card.regulated_status",
                ),
            ),
            Change("payment_method", added=("card.regulated_status",)),
            Change("invoice", added=("automatic_tax.disabled_reason",)),
            Change("subscription", added=("automatic_tax.disabled_reason",)),
        ),
    ),
    Release(
        "2024-10-28.acacia",
        (
            Change(
                "dispute",
                added=(
                    "enhanced_eligibility_types",
                    "evidence.enhanced_evidence",
                    "evidence_details.enhanced_eligibility",
                ),
            ),
        ),
    ),
    Release(
        "2024-04-10",
        (
            Change(
                "product",
                added=("marketing_features",),
                removed={"features": moved("marketing_features", default=[])},
            ),
            Change(
                "invoice",
                removed={
                    "rendering_options": computed(
                        lambda inv: (
                            {"amount_tax_display": _get(inv, "rendering.amount_tax_display")}
                            if _get(inv, "rendering.amount_tax_display")
                            else None
                        )
                    )
                },
            ),
        ),
    ),
    Release(
        "2022-11-15",
        (
            Change(
                "payment_intent",
                added=("latest_charge",),
                removed={"charges": fact("charges")},
            ),
            Change("charge", removed={"refunds": computed(_refunds_list)}),
        ),
    ),
    Release(
        "2020-08-27",
        (
            Change(
                "customer",
                removed={
                    "sources": computed(lambda c: _list(f"/v1/customers/{c.get('id')}/sources")),
                    "subscriptions": fact("subscriptions"),
                    "tax_ids": computed(lambda c: _list(f"/v1/customers/{c.get('id')}/tax_ids")),
                },
            ),
            Change("subscription", removed={"tax_percent": const(None)}),
            Change("invoice", removed={"tax_percent": const(None)}),
            Change("plan", removed={"tiers": const(None)}),
            Change(
                "charge",
                removed={
                    "payment_method_details.card.three_d_secure.authenticated": computed(
                        lambda ch: (
                            _get(_three_d_secure_flags(ch), "result") == "authenticated"
                            if _three_d_secure_flags(ch)
                            else None
                        )
                    ),
                    "payment_method_details.card.three_d_secure.succeeded": computed(
                        lambda ch: (
                            _get(_three_d_secure_flags(ch), "result")
                            in ("authenticated", "attempt_acknowledged")
                            if _three_d_secure_flags(ch)
                            else None
                        )
                    ),
                },
            ),
        ),
    ),
)


# ---- versions ------------------------------------------------------------------------------


def check(version: str) -> str:
    """``version`` if the sandbox renders it; else the 400 Stripe (or the sandbox) answers."""
    if version in RENDERED:
        return version
    if version in STRIPE_VERSIONS:
        raise InvalidRequestError(
            f"Stripe API version {version} is real, but this sandbox renders versions from "
            f"{OLDEST} to {CURRENT} only. Use one of those (Stripe-Version header, the "
            "webhook endpoint's api_version or the sandbox's api_version setting)."
        )
    raise InvalidRequestError(f"Invalid Stripe API version: {version}")


def check_param(version: str, param: str) -> str:
    """As ``check``, for a version given as a request parameter (the error names it)."""
    try:
        return check(version)
    except InvalidRequestError as exc:
        raise InvalidRequestError(exc.message, code="parameter_invalid", param=param) from None


def older(version: str, than: str) -> bool:
    return _key(version) < _key(than)


def _releases_after(version: str) -> list[Release]:
    """The releases newer than ``version``, newest first."""
    return [r for r in TABLE if older(version, r.version) and not older(CURRENT, r.version)]


def _changes_by_object(version: str) -> dict[str, list[Change]]:
    out: dict[str, list[Change]] = {}
    for release in _releases_after(version):
        for change in release.changes:
            out.setdefault(change.object, []).append(change)
    return out


_BY_VERSION: dict[str, dict[str, list[Change]]] = {}


def changes_for(version: str) -> dict[str, list[Change]]:
    """Per object type, the changes to undo (newest first) to render ``version``."""
    if version not in _BY_VERSION:
        _BY_VERSION[version] = _changes_by_object(version)
    return _BY_VERSION[version]


def facts_needed(object_type: str, version: str) -> frozenset[str]:
    """The store facts rendering an object of this type in ``version`` reads."""
    return frozenset(
        derive.fact
        for change in changes_for(version).get(object_type, ())
        for derive in change.removed.values()
        if derive.fact is not None
    )


def oldest(versions: list[str]) -> str:
    return min(versions, key=_key) if versions else CURRENT


# ---- the converter -------------------------------------------------------------------------


def _drop(obj: Obj, path: str) -> None:
    head, _, last = path.rpartition(".")
    parent = _get(obj, head) if head else obj
    if isinstance(parent, dict):
        parent.pop(last, None)


def _put(obj: Obj, path: str, value: Any) -> None:
    head, _, last = path.rpartition(".")
    parent = _get(obj, head) if head else obj
    if isinstance(parent, dict):
        parent[last] = value


def _apply(obj: Obj, changes: list[Change], facts: Facts) -> None:
    own = facts.get(str(obj.get("id")), {})
    for change in changes:
        restored = [(path, derive.fn(obj, own)) for path, derive in change.removed.items()]
        for path in change.added:
            _drop(obj, path)
        for path, value in restored:
            if "." in path and _get(obj, path.rpartition(".")[0]) is None:
                continue  # a nested field whose parent hash is empty (null) here
            _put(obj, path, value)


def _walk(node: Any, by_object: dict[str, list[Change]], facts: Facts) -> Any:
    if isinstance(node, list):
        return [_walk(item, by_object, facts) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("object")
    if isinstance(kind, str) and kind in by_object and not node.get("deleted"):
        _apply(node, by_object[kind], facts)
    for key, value in node.items():
        if isinstance(value, dict | list):
            node[key] = _walk(value, by_object, facts)
    return node


def down_convert(obj: Any, version: str, facts: Facts | None = None) -> Any:
    """``obj`` (today's shape, any nesting of objects and lists) as ``version`` shows it; a
    new value, ``obj`` is not changed. ``facts``: values read from the store per object id,
    for fields today's objects no longer carry (``facts_needed`` says which)."""
    by_object = changes_for(version)
    if not by_object:
        return obj
    return _walk(copy.deepcopy(obj), by_object, facts or {})


def _with_previous(after: Obj, previous: Mapping[str, Any]) -> Obj:
    """The object before an update, from the object after it and ``previous_attributes``."""
    before = copy.deepcopy(after)
    for key, value in previous.items():
        current = before.get(key)
        if (
            isinstance(value, Mapping)
            and isinstance(current, dict)
            and value.get("object") != "list"
            and current.get("object") != "list"
        ):
            before[key] = _with_previous(current, value)
        else:
            before[key] = copy.deepcopy(value)
    return before


def previous_attributes(before: Obj, after: Obj) -> Obj:
    """Stripe's ``previous_attributes``: old values of changed keys, nested for hashes."""
    out: Obj = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            sub = previous_attributes(old, new)
            if sub:
                out[key] = sub
        else:
            out[key] = old
    return out


def convert_event(event: Obj, version: str, facts: Facts | None = None) -> Obj:
    """An event (stored in today's shape) as an endpoint or account on ``version`` gets it:
    ``api_version`` set, ``data.object`` and ``data.previous_attributes`` in that shape."""
    out = dict(event)
    out["api_version"] = version
    if not changes_for(version):
        return out
    data = event.get("data") or {}
    obj = data.get("object")
    new_data: Obj = dict(data)
    new_data["object"] = down_convert(obj, version, facts)
    previous = data.get("previous_attributes")
    if isinstance(previous, Mapping) and isinstance(obj, dict):
        before = down_convert(_with_previous(obj, previous), version, facts)
        new_data["previous_attributes"] = previous_attributes(before, new_data["object"])
    out["data"] = new_data
    return out
