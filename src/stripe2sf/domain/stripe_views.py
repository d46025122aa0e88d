"""Normalised views of the Stripe objects stripe2sf reads, for every API version.

Where a field moved, each reader looks in every place it has lived, newest first:

- charge card details: `payment_method_details.card` (2019+), `source` (card object,
  before PaymentMethods), `card` (very old);
- charge invoice: `invoice` (removed from charges in 2025-03-31.basil; then asked of Stripe's
  invoice payments by payment intent, `LookupKind.STRIPE_PAYMENT_INVOICE`);
- payment intent's charge: `latest_charge` (2022-11-15+), `charges.data[0]` (older);
- subscription period end: `current_period_end` on the subscription (before 2025-03-31),
  on each subscription item afterwards;
- subscription plan: `items.data[].price` (2018+), `items.data[].plan`, top-level `plan`;
- invoice subscription: `subscription` (before 2025-03-31), `parent.subscription_details`
  afterwards; invoice charge: `charge` (before), `payments.data[].payment` afterwards;
- invoice paid flag: `paid` boolean (before), `status == "paid"` afterwards.

The views hold only metadata stripe2sf may send to Salesforce: never a card number or CVC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripe2sf.domain.money import currency_exponent, to_major_units
from stripe2sf.domain.paths import as_int, as_str, get_path, id_of, list_data


@dataclass(frozen=True)
class CardView:
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


def card_from(obj: Any) -> CardView:
    """Card metadata from a card-like dict (PaymentMethod.card, charge details, old source)."""
    if not isinstance(obj, Mapping):
        return CardView()
    brand = as_str(obj.get("brand")) or as_str(obj.get("type"))
    last4 = as_str(obj.get("last4"))
    if last4 is not None and not (len(last4) == 4 and last4.isdigit()):
        last4 = None
    return CardView(
        brand=brand,
        last4=last4,
        exp_month=as_int(obj.get("exp_month")),
        exp_year=as_int(obj.get("exp_year")),
    )


@dataclass(frozen=True)
class ChargeView:
    id: str
    customer_id: str | None
    amount: int
    amount_refunded: int
    currency: str
    status: str
    paid: bool
    refunded: bool
    created: int | None
    invoice_id: str | None
    payment_intent_id: str | None
    card: CardView
    billing_email: str | None
    failure_message: str | None
    disputed: bool

    @property
    def payment_status(self) -> str:
        """One status for the payment record: Refunded/Partially Refunded win over Succeeded."""
        if self.refunded or (self.amount and self.amount_refunded >= self.amount):
            return "Refunded"
        if self.amount_refunded > 0:
            return "Partially Refunded"
        if self.disputed:
            return "Disputed"
        return {"succeeded": "Succeeded", "paid": "Succeeded", "failed": "Failed"}.get(
            self.status, "Pending"
        )


def charge_view(obj: Mapping[str, Any]) -> ChargeView:
    details = get_path(obj, "payment_method_details.card")
    card = card_from(details) if details else card_from(obj.get("source") or obj.get("card"))
    status = as_str(obj.get("status")) or ("succeeded" if obj.get("paid") else "pending")
    billing_email = as_str(get_path(obj, "billing_details.email")) or as_str(
        obj.get("receipt_email")
    )
    return ChargeView(
        id=as_str(obj.get("id")) or "",
        customer_id=id_of(obj.get("customer")),
        amount=as_int(obj.get("amount")) or 0,
        amount_refunded=as_int(obj.get("amount_refunded")) or 0,
        currency=(as_str(obj.get("currency")) or "usd").lower(),
        status=status,
        paid=bool(obj.get("paid")),
        refunded=bool(obj.get("refunded")),
        created=as_int(obj.get("created")),
        invoice_id=id_of(obj.get("invoice")),
        payment_intent_id=id_of(obj.get("payment_intent")),
        card=card,
        billing_email=billing_email,
        failure_message=as_str(obj.get("failure_message")),
        disputed=bool(obj.get("disputed")),
    )


@dataclass(frozen=True)
class PaymentIntentView:
    id: str
    customer_id: str | None
    amount_received: int
    currency: str
    status: str
    created: int | None
    latest_charge_id: str | None
    latest_charge: Mapping[str, Any] | None
    invoice_id: str | None
    payment_method_id: str | None


def payment_intent_view(obj: Mapping[str, Any]) -> PaymentIntentView:
    latest = obj.get("latest_charge")
    embedded = list_data(obj.get("charges"))
    charge_obj: Mapping[str, Any] | None = latest if isinstance(latest, Mapping) else None
    if charge_obj is None and embedded:
        charge_obj = embedded[0]
    charge_id = id_of(latest) or (id_of(charge_obj) if charge_obj else None)
    return PaymentIntentView(
        id=as_str(obj.get("id")) or "",
        customer_id=id_of(obj.get("customer")),
        amount_received=as_int(obj.get("amount_received")) or 0,
        currency=(as_str(obj.get("currency")) or "usd").lower(),
        status=as_str(obj.get("status")) or "unknown",
        created=as_int(obj.get("created")),
        latest_charge_id=charge_id,
        latest_charge=charge_obj,
        invoice_id=id_of(obj.get("invoice")),
        payment_method_id=id_of(obj.get("payment_method")),
    )


@dataclass(frozen=True)
class SubscriptionItemView:
    price_id: str | None
    product_id: str | None
    product_name: str | None
    nickname: str | None
    quantity: int
    unit_amount: int | None
    currency: str | None
    interval: str | None
    interval_count: int
    current_period_end: int | None

    @property
    def monthly_amount(self) -> Decimal | None:
        """This item's monthly recurring revenue in the major unit (None if unknown)."""
        if self.unit_amount is None or self.currency is None or self.interval is None:
            return None
        per_period = to_major_units(self.unit_amount * self.quantity, self.currency)
        months = {"day": Decimal(12) / Decimal(365), "week": Decimal(12) / Decimal(52)}.get(
            self.interval
        )
        count = Decimal(max(1, self.interval_count))
        if self.interval == "month":
            monthly = per_period / count
        elif self.interval == "year":
            monthly = per_period / (count * 12)
        elif months is not None:
            # a daily or weekly price, expressed per month
            monthly = per_period / count / months
        else:
            return None
        step = Decimal(1).scaleb(-currency_exponent(self.currency))
        return monthly.quantize(step, rounding=ROUND_HALF_UP)


def _item_view(item: Mapping[str, Any], fallback_end: int | None) -> SubscriptionItemView:
    price = item.get("price") if isinstance(item.get("price"), Mapping) else item.get("plan")
    price = price if isinstance(price, Mapping) else {}
    product = price.get("product")
    recurring_raw = price.get("recurring")
    recurring: Mapping[str, Any] = recurring_raw if isinstance(recurring_raw, Mapping) else {}
    interval = as_str(recurring.get("interval")) or as_str(price.get("interval"))
    count = as_int(recurring.get("interval_count")) or as_int(price.get("interval_count")) or 1
    unit = as_int(price.get("unit_amount"))
    quantity = as_int(item.get("quantity"))
    if unit is None:
        unit = as_int(price.get("amount"))
    return SubscriptionItemView(
        price_id=id_of(price.get("id")),
        product_id=id_of(product),
        product_name=as_str(product.get("name")) if isinstance(product, Mapping) else None,
        nickname=as_str(price.get("nickname")) or as_str(price.get("name")),
        quantity=1 if quantity is None else quantity,
        unit_amount=unit,
        currency=as_str(price.get("currency")),
        interval=interval,
        interval_count=count,
        current_period_end=as_int(item.get("current_period_end")) or fallback_end,
    )


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    customer_id: str | None
    status: str
    created: int | None
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    trial_end: int | None
    paused: bool
    current_period_end: int | None
    items: tuple[SubscriptionItemView, ...]
    currency: str | None

    @property
    def quantity(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def primary_item(self) -> SubscriptionItemView | None:
        """The item naming the plan: the one with the largest monthly amount."""
        if not self.items:
            return None
        return max(self.items, key=lambda i: i.monthly_amount or Decimal(0))

    @property
    def mrr(self) -> Decimal:
        """Monthly recurring revenue; zero unless the subscription is billing."""
        if self.status not in {"active", "past_due", "unpaid"}:
            return Decimal(0)
        return sum((i.monthly_amount or Decimal(0) for i in self.items), Decimal(0))

    def product_ids(self) -> tuple[str, ...]:
        return tuple(i.product_id for i in self.items if i.product_id and not i.product_name)


def subscription_view(obj: Mapping[str, Any]) -> SubscriptionView:
    top_end = as_int(obj.get("current_period_end"))
    raw_items = list_data(obj.get("items"))
    if not raw_items and isinstance(obj.get("plan"), Mapping):
        raw_items = [{"plan": obj["plan"], "quantity": obj.get("quantity", 1)}]
    items = tuple(_item_view(item, top_end) for item in raw_items)
    ends = [i.current_period_end for i in items if i.current_period_end is not None]
    period_end = top_end if top_end is not None else (max(ends) if ends else None)
    status = as_str(obj.get("status")) or "unknown"
    paused = status == "paused" or isinstance(obj.get("pause_collection"), Mapping)
    return SubscriptionView(
        id=as_str(obj.get("id")) or "",
        customer_id=id_of(obj.get("customer")),
        status=status,
        created=as_int(obj.get("created")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        cancel_at=as_int(obj.get("cancel_at")),
        canceled_at=as_int(obj.get("canceled_at")),
        trial_end=as_int(obj.get("trial_end")),
        paused=paused,
        current_period_end=period_end,
        items=items,
        currency=as_str(obj.get("currency")) or (items[0].currency if items else None),
    )


@dataclass(frozen=True)
class InvoiceView:
    id: str
    customer_id: str | None
    subscription_id: str | None
    charge_id: str | None
    number: str | None
    currency: str
    amount_due: int
    amount_paid: int
    amount_remaining: int
    attempt_count: int
    next_payment_attempt: int | None
    hosted_invoice_url: str | None
    status: str | None
    paid: bool
    paid_at: int | None
    created: int | None

    @property
    def amount_due_major(self) -> Decimal:
        return to_major_units(self.amount_due, self.currency)

    @property
    def final_attempt(self) -> bool:
        """Stripe leaves next_payment_attempt empty when no retry is scheduled."""
        return self.next_payment_attempt is None

    @property
    def failed_and_owed(self) -> bool:
        """A payment was attempted and failed, and the invoice is still owed."""
        return self.attempt_count > 0 and self.amount_remaining > 0 and not self.paid


def intents_paid(obj: Mapping[str, Any]) -> list[str]:
    """The payment intents an invoice of API 2025-03-31.basil or later was paid (or tried)
    with: `payments.data[].payment.payment_intent`, present when `payments` was expanded."""
    return [
        pi
        for payment in list_data(obj.get("payments"))
        if (pi := id_of(get_path(payment, "payment.payment_intent")))
    ]


def invoice_view(obj: Mapping[str, Any]) -> InvoiceView:
    subscription = id_of(obj.get("subscription")) or id_of(
        get_path(obj, "parent.subscription_details.subscription")
    )
    charge = id_of(obj.get("charge"))
    if charge is None:
        for payment in list_data(obj.get("payments")):
            charge = id_of(get_path(payment, "payment.charge"))
            if charge:
                break
    status = as_str(obj.get("status"))
    paid = bool(obj.get("paid")) or status == "paid"
    return InvoiceView(
        id=as_str(obj.get("id")) or "",
        customer_id=id_of(obj.get("customer")),
        subscription_id=subscription,
        charge_id=charge,
        number=as_str(obj.get("number")),
        currency=(as_str(obj.get("currency")) or "usd").lower(),
        amount_due=as_int(obj.get("amount_due")) or 0,
        amount_paid=as_int(obj.get("amount_paid")) or 0,
        amount_remaining=as_int(obj.get("amount_remaining")) or 0,
        attempt_count=as_int(obj.get("attempt_count")) or 0,
        next_payment_attempt=as_int(obj.get("next_payment_attempt")),
        hosted_invoice_url=as_str(obj.get("hosted_invoice_url")),
        status=status,
        paid=paid,
        paid_at=as_int(get_path(obj, "status_transitions.paid_at")),
        created=as_int(obj.get("created")),
    )


@dataclass(frozen=True)
class CustomerView:
    id: str
    email: str | None
    name: str | None
    phone: str | None
    deleted: bool
    created: int | None
    default_payment_method_id: str | None
    default_source_id: str | None

    @property
    def first_last(self) -> tuple[str | None, str]:
        """(FirstName, LastName) for a new Contact; LastName is required by Salesforce."""
        if self.name:
            parts = self.name.strip().rsplit(" ", 1)
            if len(parts) == 2:
                return parts[0], parts[1]
            return None, parts[0]
        if self.email:
            return None, self.email.split("@", 1)[0]
        return None, self.id

    @property
    def email_domain(self) -> str | None:
        if not self.email or "@" not in self.email:
            return None
        return self.email.rsplit("@", 1)[1].strip().lower() or None


def customer_view(obj: Mapping[str, Any]) -> CustomerView:
    return CustomerView(
        id=as_str(obj.get("id")) or "",
        email=as_str(obj.get("email")),
        # a blank name is no name: Account.Name and Contact.LastName must not be blank
        name=as_str((as_str(obj.get("name")) or "").strip()),
        phone=as_str(obj.get("phone")),
        deleted=bool(obj.get("deleted")),
        created=as_int(obj.get("created")),
        default_payment_method_id=id_of(get_path(obj, "invoice_settings.default_payment_method")),
        default_source_id=id_of(obj.get("default_source")),
    )


@dataclass(frozen=True)
class PaymentMethodView:
    id: str
    customer_id: str | None
    type: str | None
    card: CardView


def payment_method_view(obj: Mapping[str, Any]) -> PaymentMethodView:
    """A PaymentMethod, or an old-style card source (`object: card`)."""
    if obj.get("object") == "card":
        card = card_from(obj)
        ptype: str | None = "card"
    else:
        ptype = as_str(obj.get("type"))
        card = card_from(obj.get("card"))
    return PaymentMethodView(
        id=as_str(obj.get("id")) or "",
        customer_id=id_of(obj.get("customer")),
        type=ptype,
        card=card,
    )


@dataclass(frozen=True)
class DisputeView:
    id: str
    charge_id: str | None
    payment_intent_id: str | None
    amount: int
    currency: str
    reason: str | None
    status: str | None
    created: int | None
    evidence_due_by: int | None


def dispute_view(obj: Mapping[str, Any]) -> DisputeView:
    return DisputeView(
        id=as_str(obj.get("id")) or "",
        charge_id=id_of(obj.get("charge")),
        payment_intent_id=id_of(obj.get("payment_intent")),
        amount=as_int(obj.get("amount")) or 0,
        currency=(as_str(obj.get("currency")) or "usd").lower(),
        reason=as_str(obj.get("reason")),
        status=as_str(obj.get("status")),
        created=as_int(obj.get("created")),
        evidence_due_by=as_int(get_path(obj, "evidence_details.due_by")),
    )


def expanded_default_card(customer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The customer's default payment method (or legacy default source) when the object
    carries it expanded (lists read with `backfill_plan.LIST_PARAMS`), else None."""
    settings = customer.get("invoice_settings")
    ref = settings.get("default_payment_method") if isinstance(settings, Mapping) else None
    for candidate in (ref, customer.get("default_source")):
        if isinstance(candidate, Mapping):
            return candidate
    return None
