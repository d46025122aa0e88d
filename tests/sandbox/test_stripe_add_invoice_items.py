"""The Stripe sandbox's subscription `add_invoice_items`: one-time prices billed once, as
invoice items of the subscription's first invoice; recurring prices and other currencies
refused as Stripe refuses them."""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.stripe_support import client, sb, stripe_server

__all__ = ["client", "sb", "stripe_server"]


def _price(
    client: stripe.StripeClient, amount: int, *, monthly: bool = False, cur: str = "usd"
) -> str:
    product = client.v1.products.create({"name": "Thing"})
    params: dict[str, object] = {"product": product.id, "currency": cur, "unit_amount": amount}
    if monthly:
        params["recurring"] = {"interval": "month"}
    return str(client.v1.prices.create(params).id)  # type: ignore[arg-type]


def test_one_time_prices_on_the_first_invoice(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "a@example.com"})
    monthly, fee = _price(client, 1_000, monthly=True), _price(client, 5_000)
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": monthly, "quantity": 2}],
            "add_invoice_items": [{"price": fee, "quantity": 3}],
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.amount_due == 2 * 1_000 + 3 * 5_000
    [item] = client.v1.invoice_items.list({"invoice": invoice.id}).data
    assert (item.pricing.price_details.price, item.quantity) == (fee, 3)
    assert [i.price.id for i in sub["items"].data] == [monthly]  # not a subscription item
    bad = [
        ({"price": _price(client, 100, monthly=True)}, "type=one_time"),
        ({"price": _price(client, 100, cur="eur")}, "does not match"),
    ]
    for entry, said in bad:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.subscriptions.create(
                {
                    "customer": customer.id,
                    "items": [{"price": monthly}],
                    "add_invoice_items": [entry],
                    "collection_method": "send_invoice",
                }
            )
        assert said in str(refused.value)
