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


def test_stripe_out_of_reach_is_a_retryable_connection_error_after_the_sdks_retries() -> None:
    import socket

    from stripe2sf.domain.errors import RetryableError

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reader = StripeReader("sk_test_x", f"http://127.0.0.1:{port}", max_retries=1, http_pool=2)
    with pytest.raises(RetryableError) as caught:
        reader.retrieve("customer", "cus_1")
    assert caught.value.kind == "stripe.connection"
    assert str(caught.value).startswith(  # in words, not the SDK's text
        f"cannot reach Stripe at http://127.0.0.1:{port}: the connection was refused"
    )


def test_a_stripe_500_is_retried_by_the_sdk_then_answered(box: RunningSandbox) -> None:
    customer = box.client().v1.customers.create({"email": "retry@example.com"})
    box.faults(api_outage=[{"path": "/v1/customers/*", "status": 500, "count": 1}])
    try:
        reader = StripeReader(box.api_key, box.api_base, max_retries=2, http_pool=2)
        found = reader.retrieve("customer", customer.id)
    finally:
        box.clear_faults()
    assert found is not None and found["email"] == "retry@example.com"
