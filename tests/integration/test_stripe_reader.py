"""The Stripe reader against the Stripe sandbox: what a refetch and a list answer are (plain
dicts, the same content the SDK's typed objects hold), and a missing object is None."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stripe2sf.domain.context import Lookup, LookupKind
from stripe2sf.stripe.reader import StripeReader
from stripe_sandbox.testing import RunningSandbox, run_sandbox


@pytest.fixture(scope="module")
def box() -> Iterator[RunningSandbox]:
    with run_sandbox() as running:
        yield running


def only_plain(value: Any) -> bool:
    """No SDK object anywhere inside: only JSON's own types."""
    if isinstance(value, dict):
        return type(value) is dict and all(only_plain(v) for v in value.values())
    if isinstance(value, list):
        return all(only_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def test_refetches_and_lists_are_the_sdk_objects_as_plain_dicts(box: RunningSandbox) -> None:
    client = box.client()
    customer = client.v1.customers.create({"email": "reader@example.com", "name": "Rea Der"})
    intent = client.v1.payment_intents.create(
        {
            "amount": 1999,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    charge_id = str(intent.latest_charge)
    reader = StripeReader(box.api_key, box.api_base, http_pool=4)

    charge = reader.retrieve("charge", charge_id)
    assert charge == client.v1.charges.retrieve(charge_id).to_dict()
    assert only_plain(charge)
    expanded = reader.retrieve("charge", charge_id, expand=("customer",))
    assert expanded is not None and expanded["customer"]["email"] == "reader@example.com"
    found = reader.answer(Lookup(LookupKind.STRIPE_CUSTOMER, customer.id))
    assert found == client.v1.customers.retrieve(customer.id).to_dict() and only_plain(found)
    assert reader.retrieve("customer", "cus_missing") is None
    assert reader.retrieve("not_a_type", "x_1") is None

    subs = reader.customer_subscriptions(customer.id)
    assert subs == [] and reader.customer_open_invoices(customer.id) == []
    assert reader.calls == 6  # the unknown type asks nothing
