"""Products and prices."""

from __future__ import annotations

from stripe_sandbox import ids, shapes
from stripe_sandbox.errors import InvalidRequestError, param_invalid, param_required
from stripe_sandbox.models.common import (
    Obj,
    amount,
    apply_metadata,
    apply_simple,
    currency,
    require_str,
    snapshot,
)
from stripe_sandbox.params import Params, get_bool, get_dict, get_int
from stripe_sandbox.state import Tx

PRODUCT_FIELDS = (
    "description",
    "statement_descriptor",
    "unit_label",
    "url",
    "tax_code",
    "shippable",
)
INTERVALS = ("day", "week", "month", "year")


def create_product(tx: Tx, params: Params) -> Obj:
    name = require_str(params, "name")
    data = shapes.product(params.get("id") or ids.id_for("product"), tx.now(), name)
    apply_simple(data, params, PRODUCT_FIELDS)
    data["active"] = get_bool(params, "active", True)
    if isinstance(params.get("images"), list):
        data["images"] = [str(i) for i in params["images"]]
    apply_metadata(data, params)
    if tx.find("product", data["id"]) is not None:
        raise InvalidRequestError(
            "Product already exists.", code="resource_already_exists", param="id"
        )
    rec = tx.new_record("product", data)
    tx.emit("product.created", data)
    dpd = get_dict(params, "default_price_data")
    if dpd:
        price = _create_price(tx, {**dpd, "product": data["id"]})
        data["default_price"] = price["id"]
        tx.save(rec)
    return data


def update_product(tx: Tx, product_id: str, params: Params) -> Obj:
    rec = tx.get("product", product_id)
    before = snapshot(rec.data)
    apply_simple(rec.data, params, ("name", *PRODUCT_FIELDS, "default_price"))
    if "active" in params:
        rec.data["active"] = get_bool(params, "active", True)
    apply_metadata(rec.data, params)
    rec.data["updated"] = tx.now()
    tx.save(rec)
    if {k: v for k, v in rec.data.items() if k != "updated"} != {
        k: v for k, v in before.items() if k != "updated"
    }:
        tx.emit_update("product.updated", before, rec.data)
    return rec.data


def delete_product(tx: Tx, product_id: str) -> Obj:
    rec = tx.get("product", product_id)
    if tx.store.find("price", [("parent", product_id)]):
        raise InvalidRequestError(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    tx.store.delete(product_id)
    tx.emit("product.deleted", rec.data)
    return shapes.deleted(product_id, "product")


def create_price(tx: Tx, params: Params) -> Obj:
    return _create_price(tx, params)


def _create_price(tx: Tx, params: Params) -> Obj:
    product_id = params.get("product")
    product_data = get_dict(params, "product_data")
    if not product_id and not product_data:
        raise param_required("product")
    if product_data:
        product_id = create_product(tx, product_data)["id"]
    tx.get("product", product_id, "product")
    cur = currency(params)
    assert cur is not None
    unit = amount(params, "unit_amount", required=False)
    if unit is None and params.get("unit_amount_decimal") not in (None, ""):
        unit = int(float(str(params["unit_amount_decimal"])))
    if unit is None:
        raise InvalidRequestError(
            "You must pass either `unit_amount`, `unit_amount_decimal`, or `custom_unit_amount`.",
            code="parameter_missing",
            param="unit_amount",
        )
    data = shapes.price(ids.id_for("price"), tx.now(), str(product_id), cur, unit)
    rec_params = get_dict(params, "recurring")
    if rec_params:
        interval = rec_params.get("interval")
        if interval not in INTERVALS:
            raise param_invalid("recurring[interval]", f"Invalid recurring[interval]: {interval}")
        count = get_int(rec_params, "interval_count", 1) or 1
        data["recurring"] = shapes.recurring(
            str(interval), count, get_int(rec_params, "trial_period_days")
        )
        data["type"] = "recurring"
    apply_simple(data, params, ("nickname", "lookup_key", "tax_behavior"))
    data["active"] = get_bool(params, "active", True)
    apply_metadata(data, params)
    tx.new_record("price", data, parent=str(product_id))
    tx.emit("price.created", data)
    if data["type"] == "recurring":
        tx.emit("plan.created", shapes.plan_from_price(data))
    return data


def update_price(tx: Tx, price_id: str, params: Params) -> Obj:
    rec = tx.get("price", price_id)
    before = snapshot(rec.data)
    apply_simple(rec.data, params, ("nickname", "lookup_key", "tax_behavior"))
    if "active" in params:
        rec.data["active"] = get_bool(params, "active", True)
    apply_metadata(rec.data, params)
    tx.save(rec)
    tx.emit_update("price.updated", before, rec.data)
    return rec.data
