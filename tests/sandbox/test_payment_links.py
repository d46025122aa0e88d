"""Payment links in the Stripe sandbox, driven by the official SDK: create (idempotent), line
items, expand, update, list, and Stripe's errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from stripe_sandbox.testing import RunningSandbox, run_sandbox


@pytest.fixture(scope="module")
def box() -> Iterator[RunningSandbox]:
    with run_sandbox() as sandbox:
        yield sandbox


def _price(client: stripe.StripeClient, amount: int = 1500, currency: str = "usd") -> str:
    product = client.v1.products.create({"name": "Gold plan"})
    price = client.v1.prices.create(
        {"product": product.id, "currency": currency, "unit_amount": amount}
    )
    return str(price.id)


def test_create_with_line_items_and_idempotency(box: RunningSandbox) -> None:
    client = box.client()
    price = _price(client)
    params = {"line_items": [{"price": price, "quantity": 2}], "metadata": {"sf": "006x"}}
    link = client.v1.payment_links.create(params, {"idempotency_key": "stripe2sf-test-pl"})  # type: ignore[arg-type]
    assert link.object == "payment_link" and link.active is True
    assert link.url.startswith("https://buy.stripe.com/test_")
    assert link.currency == "usd" and link.metadata["sf"] == "006x"
    again = client.v1.payment_links.create(params, {"idempotency_key": "stripe2sf-test-pl"})  # type: ignore[arg-type]
    assert again.id == link.id
    other = {"line_items": [{"price": price, "quantity": 3}]}
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_links.create(other, {"idempotency_key": "stripe2sf-test-pl"})  # type: ignore[arg-type]
    items = client.v1.payment_links.line_items.list(link.id)
    assert [(i.price.id, i.quantity, i.amount_total) for i in items.data] == [(price, 2, 3000)]
    expanded = client.v1.payment_links.retrieve(link.id, {"expand": ["line_items"]})
    assert expanded["line_items"].data[0].description == "Gold plan"


def test_update_list_and_errors(box: RunningSandbox) -> None:
    client = box.client()
    price = _price(client)
    link = client.v1.payment_links.create({"line_items": [{"price": price, "quantity": 1}]})
    off = client.v1.payment_links.update(link.id, {"active": False})
    assert off.active is False
    inactive = client.v1.payment_links.list({"active": False})
    assert link.id in [pl.id for pl in inactive.data]
    with pytest.raises(stripe.InvalidRequestError) as missing_price:
        client.v1.payment_links.create({"line_items": [{"price": "price_nope", "quantity": 1}]})
    assert missing_price.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as no_items:
        client.v1.payment_links.create({"metadata": {"a": "b"}})
    assert no_items.value.param == "line_items"
    eur = _price(client, currency="eur")
    with pytest.raises(stripe.InvalidRequestError, match="same currency"):
        client.v1.payment_links.create(
            {"line_items": [{"price": price, "quantity": 1}, {"price": eur, "quantity": 1}]}
        )
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_links.retrieve("plink_unknown")
    assert unknown.value.http_status == 404
