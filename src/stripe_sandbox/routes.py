"""The route table: Stripe's v1 paths -> operations in ``models`` (via ``api``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stripe_sandbox.api import INCLUDABLE, ListSpec, Obj, Operation, PathParams
from stripe_sandbox.errors import missing, param_required
from stripe_sandbox.models import (
    catalog,
    clocks,
    customers,
    invoices,
    payment_links,
    payments,
    setup_intents,
    subscriptions,
    webhooks,
)
from stripe_sandbox.params import Params, get_bool
from stripe_sandbox.state import Tx
from stripe_sandbox.store import Filter

Route = tuple[str, str, "Operation | ListSpec"]


def _create(fn: Callable[[Tx, Params], Obj]) -> Operation:
    return lambda tx, params, path: fn(tx, params)


def _with_id(fn: Callable[[Tx, str, Params], Obj]) -> Operation:
    return lambda tx, params, path: fn(tx, path["id"], params)


def _id_only(fn: Callable[[Tx, str], Obj]) -> Operation:
    return lambda tx, params, path: fn(tx, path["id"])


def _retrieve(object_type: str) -> Operation:
    return lambda tx, params, path: tx.get(object_type, path["id"]).data


def _eq(
    *names: str, column: dict[str, str] | None = None
) -> Callable[[Tx, Params, PathParams], list[Filter]]:
    """Filters on equal values: indexed columns where given, else JSON fields."""
    column = column or {}

    def build(tx: Tx, params: Params, path: PathParams) -> list[Filter]:
        out: list[Filter] = []
        for name in names:
            value = params.get(name)
            if value is None or value == "":
                continue
            if name in column:
                out.append((column[name], value))
            elif value in ("true", "false"):
                out.append((f"json_extract(data, '$.{name}') = ?", 1 if value == "true" else 0))
            else:
                out.append((f"json_extract(data, '$.{name}') = ?", value))
        return out

    return build


def _listing(object_type: str, url: str, filters: Any = None) -> ListSpec:
    return ListSpec(object_type, lambda path: url, filters or (lambda tx, p, pp: []))


def _customer_payment_methods(tx: Tx, params: Params, path: PathParams) -> list[Filter]:
    tx.get("customer", path["id"])
    out: list[Filter] = [("customer", path["id"])]
    if params.get("type"):
        out.append(("json_extract(data, '$.type') = ?", params["type"]))
    return out


def _invoiceitem_filters(tx: Tx, params: Params, path: PathParams) -> list[Filter]:
    out = _eq("customer", "invoice", column={"customer": "customer", "invoice": "parent"})(
        tx, params, path
    )
    pending = get_bool(params, "pending")
    if pending is True:
        out.append(("parent", None))
    elif pending is False:
        out.append(("parent IS NOT ?", None))
    return out


def _subscription_filters(tx: Tx, params: Params, path: PathParams) -> list[Filter]:
    return subscriptions.list_filters(params)


def _price_filters(tx: Tx, params: Params, path: PathParams) -> list[Filter]:
    out = _eq("product", "active", "currency", "type", "lookup_key", column={"product": "parent"})(
        tx, params, path
    )
    recurring = params.get("recurring")
    if isinstance(recurring, dict) and recurring.get("interval"):
        out.append(("json_extract(data, '$.recurring.interval') = ?", recurring["interval"]))
    return out


def _invoice_lines(tx: Tx, params: Params, path: PathParams) -> Obj:
    lines: Obj = tx.get("invoice", path["id"]).data["lines"]
    return lines


def _invoice_payment_filters(tx: Tx, params: Params, path: PathParams) -> list[Filter]:
    out = _eq("invoice", "status", column={"invoice": "parent"})(tx, params, path)
    payment = params.get("payment")
    if isinstance(payment, dict):
        for key in ("payment_intent", "charge", "type"):
            if payment.get(key):
                out.append((f"json_extract(data, '$.payment.{key}') = ?", payment[key]))
    return out


def _subscription_items(tx: Tx, params: Params, path: PathParams) -> Obj:
    sub_id = params.get("subscription")
    if not sub_id:
        raise param_required("subscription")
    items: Obj = dict(tx.get("subscription", sub_id, "subscription").data["items"])
    return items


def _subscription_item(tx: Tx, params: Params, path: PathParams) -> Obj:
    for sub in tx.store.find("subscription", [("data LIKE ?", f'%"id":"{path["id"]}"%')]):
        for item in sub.data["items"]["data"]:
            if item["id"] == path["id"]:
                found: Obj = item
                return found
    raise missing("subscription_item", path["id"])


def _pay(tx: Tx, invoice_id: str, params: Params) -> Obj:
    return invoices.pay_api(tx, invoice_id, params)


# ---- includable fields (expand=[...] on fields that are absent by default) ------------------


def _invoice_payments(tx: Tx, inv: Obj) -> Obj:
    rows = [r.data for r in tx.store.find("invoice_payment", [("parent", inv["id"])], order="DESC")]
    return {
        "object": "list",
        "data": rows,
        "has_more": False,
        "total_count": len(rows),
        "url": f"/v1/invoice_payments?invoice={inv['id']}",
    }


def _customer_subscriptions(tx: Tx, cust: Obj) -> Obj:
    rows = [
        r.data
        for r in tx.store.find("subscription", [("customer", cust["id"])], order="DESC")
        if r.data["status"] not in ("canceled", "incomplete_expired")
    ]
    return {
        "object": "list",
        "data": rows,
        "has_more": False,
        "total_count": len(rows),
        "url": f"/v1/customers/{cust['id']}/subscriptions",
    }


def _empty(url: str) -> Callable[[Tx, Obj], Obj]:
    def build(tx: Tx, obj: Obj) -> Obj:
        return {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": url.format(**obj),
        }

    return build


INCLUDABLE[("invoice", "payments")] = _invoice_payments
INCLUDABLE[("customer", "subscriptions")] = _customer_subscriptions
INCLUDABLE[("customer", "sources")] = _empty("/v1/customers/{id}/sources")
INCLUDABLE[("customer", "tax_ids")] = _empty("/v1/customers/{id}/tax_ids")
INCLUDABLE[("payment_link", "line_items")] = payment_links.included_line_items


def _by_customer(*extra: str, **columns: str) -> Any:
    return _eq("customer", *extra, column={"customer": "customer", **columns})


ROUTES: list[Route] = [
    # customers
    ("POST", "/v1/customers", _create(customers.create)),
    (
        "GET",
        "/v1/customers",
        _listing(
            "customer", "/v1/customers", _eq("email", "test_clock", column={"test_clock": "clock"})
        ),
    ),
    ("GET", "/v1/customers/{id}", _id_only(customers.retrieve)),
    ("POST", "/v1/customers/{id}", _with_id(customers.update)),
    ("DELETE", "/v1/customers/{id}", _id_only(customers.delete)),
    (
        "GET",
        "/v1/customers/{id}/payment_methods",
        ListSpec(
            "payment_method",
            lambda p: f"/v1/customers/{p['id']}/payment_methods",
            _customer_payment_methods,
        ),
    ),
    # payment methods
    ("POST", "/v1/payment_methods", _create(payments.create_payment_method)),
    (
        "GET",
        "/v1/payment_methods",
        _listing("payment_method", "/v1/payment_methods", _by_customer("type")),
    ),
    ("GET", "/v1/payment_methods/{id}", _retrieve("payment_method")),
    ("POST", "/v1/payment_methods/{id}", _with_id(payments.update_payment_method)),
    ("POST", "/v1/payment_methods/{id}/attach", _with_id(payments.attach_api)),
    ("POST", "/v1/payment_methods/{id}/detach", _id_only(payments.detach)),
    # payment intents
    ("POST", "/v1/payment_intents", _create(payments.create_payment_intent)),
    (
        "GET",
        "/v1/payment_intents",
        _listing("payment_intent", "/v1/payment_intents", _by_customer()),
    ),
    ("GET", "/v1/payment_intents/{id}", _retrieve("payment_intent")),
    ("POST", "/v1/payment_intents/{id}", _with_id(payments.update_payment_intent)),
    ("POST", "/v1/payment_intents/{id}/confirm", _with_id(payments.confirm_api)),
    ("POST", "/v1/payment_intents/{id}/capture", _with_id(payments.capture)),
    ("POST", "/v1/payment_intents/{id}/cancel", _with_id(payments.cancel_payment_intent)),
    # setup intents
    ("POST", "/v1/setup_intents", _create(setup_intents.create)),
    ("GET", "/v1/setup_intents", _listing("setup_intent", "/v1/setup_intents", _by_customer())),
    ("GET", "/v1/setup_intents/{id}", _retrieve("setup_intent")),
    ("POST", "/v1/setup_intents/{id}/confirm", _with_id(setup_intents.confirm)),
    ("POST", "/v1/setup_intents/{id}/cancel", _with_id(setup_intents.cancel)),
    # charges, refunds, disputes
    (
        "GET",
        "/v1/charges",
        _listing("charge", "/v1/charges", _by_customer("payment_intent", payment_intent="parent")),
    ),
    ("GET", "/v1/charges/{id}", _retrieve("charge")),
    ("POST", "/v1/charges/{id}", _with_id(payments.update_charge)),
    (
        "GET",
        "/v1/charges/{id}/refunds",
        ListSpec(
            "refund",
            lambda p: f"/v1/charges/{p['id']}/refunds",
            lambda tx, params, path: [("parent", path["id"])],
        ),
    ),
    ("POST", "/v1/refunds", _create(payments.create_refund)),
    (
        "GET",
        "/v1/refunds",
        _listing(
            "refund", "/v1/refunds", _eq("charge", "payment_intent", column={"charge": "parent"})
        ),
    ),
    ("GET", "/v1/refunds/{id}", _retrieve("refund")),
    ("POST", "/v1/refunds/{id}", _with_id(payments.update_refund)),
    (
        "GET",
        "/v1/disputes",
        _listing(
            "dispute", "/v1/disputes", _eq("charge", "payment_intent", column={"charge": "parent"})
        ),
    ),
    ("GET", "/v1/disputes/{id}", _retrieve("dispute")),
    ("POST", "/v1/disputes/{id}", _with_id(payments.update_dispute)),
    ("POST", "/v1/disputes/{id}/close", _id_only(payments.close_dispute)),
    # products and prices
    ("POST", "/v1/products", _create(catalog.create_product)),
    ("GET", "/v1/products", _listing("product", "/v1/products", _eq("active"))),
    ("GET", "/v1/products/{id}", _retrieve("product")),
    ("POST", "/v1/products/{id}", _with_id(catalog.update_product)),
    ("DELETE", "/v1/products/{id}", _id_only(catalog.delete_product)),
    ("POST", "/v1/prices", _create(catalog.create_price)),
    ("GET", "/v1/prices", _listing("price", "/v1/prices", _price_filters)),
    ("GET", "/v1/prices/{id}", _retrieve("price")),
    ("POST", "/v1/prices/{id}", _with_id(catalog.update_price)),
    # subscriptions
    ("POST", "/v1/subscriptions", _create(subscriptions.create)),
    (
        "GET",
        "/v1/subscriptions",
        _listing("subscription", "/v1/subscriptions", _subscription_filters),
    ),
    ("GET", "/v1/subscriptions/{id}", _retrieve("subscription")),
    ("POST", "/v1/subscriptions/{id}", _with_id(subscriptions.update)),
    ("DELETE", "/v1/subscriptions/{id}", _with_id(subscriptions.cancel)),
    ("POST", "/v1/subscriptions/{id}/pause", _with_id(subscriptions.pause)),
    ("GET", "/v1/subscription_items", _subscription_items),
    ("GET", "/v1/subscription_items/{id}", _subscription_item),
    ("POST", "/v1/subscriptions/{id}/resume", _with_id(subscriptions.resume)),
    # invoices and invoice items
    ("POST", "/v1/invoices", _create(invoices.create)),
    (
        "GET",
        "/v1/invoices",
        _listing(
            "invoice",
            "/v1/invoices",
            _eq(
                "customer",
                "subscription",
                "status",
                "collection_method",
                column={"customer": "customer", "subscription": "parent"},
            ),
        ),
    ),
    ("GET", "/v1/invoices/{id}", _retrieve("invoice")),
    ("POST", "/v1/invoices/{id}", _with_id(invoices.update)),
    ("DELETE", "/v1/invoices/{id}", _id_only(invoices.delete)),
    ("GET", "/v1/invoices/{id}/lines", _invoice_lines),
    ("POST", "/v1/invoices/{id}/finalize", _with_id(invoices.finalize_api)),
    ("POST", "/v1/invoices/{id}/pay", _with_id(_pay)),
    ("POST", "/v1/invoices/{id}/void", _id_only(invoices.void_api)),
    ("POST", "/v1/invoices/{id}/mark_uncollectible", _id_only(invoices.mark_uncollectible)),
    ("POST", "/v1/invoices/{id}/send", _id_only(invoices.send)),
    ("POST", "/v1/invoiceitems", _create(invoices.create_item)),
    ("GET", "/v1/invoiceitems", _listing("invoiceitem", "/v1/invoiceitems", _invoiceitem_filters)),
    ("GET", "/v1/invoiceitems/{id}", _retrieve("invoiceitem")),
    ("POST", "/v1/invoiceitems/{id}", _with_id(invoices.update_item)),
    ("DELETE", "/v1/invoiceitems/{id}", _id_only(invoices.delete_item)),
    (
        "GET",
        "/v1/invoice_payments",
        _listing("invoice_payment", "/v1/invoice_payments", _invoice_payment_filters),
    ),
    ("GET", "/v1/invoice_payments/{id}", _retrieve("invoice_payment")),
    # payment links
    ("POST", "/v1/payment_links", _create(payment_links.create)),
    ("GET", "/v1/payment_links", _listing("payment_link", "/v1/payment_links", _eq("active"))),
    ("GET", "/v1/payment_links/{id}", _retrieve("payment_link")),
    ("POST", "/v1/payment_links/{id}", _with_id(payment_links.update)),
    (
        "GET",
        "/v1/payment_links/{id}/line_items",
        lambda tx, params, path: payment_links.line_items(tx, path["id"]),
    ),
    # test clocks
    ("POST", "/v1/test_helpers/test_clocks", _create(clocks.create)),
    (
        "GET",
        "/v1/test_helpers/test_clocks",
        _listing("test_helpers.test_clock", "/v1/test_helpers/test_clocks"),
    ),
    ("GET", "/v1/test_helpers/test_clocks/{id}", _retrieve("test_helpers.test_clock")),
    ("DELETE", "/v1/test_helpers/test_clocks/{id}", _id_only(clocks.delete)),
    ("POST", "/v1/test_helpers/test_clocks/{id}/advance", _with_id(clocks.advance)),
    # events and webhook endpoints
    (
        "GET",
        "/v1/events",
        ListSpec(
            None,
            lambda p: "/v1/events",
            lambda tx, params, path: webhooks.event_filters(tx, params),
            table="events",
        ),
    ),
    ("GET", "/v1/events/{id}", lambda tx, params, path: webhooks.retrieve_event(tx, path["id"])),
    ("POST", "/v1/webhook_endpoints", _create(webhooks.create)),
    ("GET", "/v1/webhook_endpoints", _listing("webhook_endpoint", "/v1/webhook_endpoints")),
    ("GET", "/v1/webhook_endpoints/{id}", _retrieve("webhook_endpoint")),
    ("POST", "/v1/webhook_endpoints/{id}", _with_id(webhooks.update)),
    ("DELETE", "/v1/webhook_endpoints/{id}", _id_only(webhooks.delete)),
]
