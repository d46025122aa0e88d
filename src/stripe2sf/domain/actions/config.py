"""`[actions]` of `stripe2sf.toml`: what Salesforce may ask of Stripe.

    [actions]
    enabled = true                      # off by default: nothing is sent to Stripe
    stage = "Closed Won"                # the Opportunity stage that makes the Stripe objects
    kind = "invoice"                    # "invoice" | "subscription" | "payment_link"
    price_source = "auto"               # "auto" | "products" | "field" (below)
    product_price_field = "Stripe_Price_Id__c"   # the Product2 field naming its Stripe price
    price_field = "Stripe_Price_Id__c"  # the Opportunity field naming the Stripe price
    quantity_field = ""                 # an Opportunity number field; empty: quantity 1
    days_until_due = 30                 # invoices (and subscriptions billed by invoice)
    subscription_collection = "charge_automatically"   # or "send_invoice"
    requests = true                     # Stripe_Request__c records are acted on too

`price_source`: "products" bills the Opportunity's products (OpportunityLineItem: each line's
Product2 `product_price_field`, its Quantity); "field" the Opportunity's `price_field` (and
`quantity_field`); "auto" the products when the Opportunity has any, else the field.

Field names of the Opportunity and of `Stripe_Request__c` are fixed (`FIELDS`,
`REQUEST_FIELDS`): `stripe2sf metadata` creates them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ActionKind = Literal["invoice", "subscription", "payment_link"]
ACTION_KINDS: tuple[ActionKind, ...] = ("invoice", "subscription", "payment_link")
PriceSource = Literal["auto", "products", "field"]


class ActionsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    stage: str = "Closed Won"
    kind: ActionKind = "invoice"
    price_source: PriceSource = "auto"
    product_price_field: str = "Stripe_Price_Id__c"
    price_field: str = "Stripe_Price_Id__c"
    quantity_field: str = ""
    days_until_due: int = Field(default=30, ge=0, le=365)
    subscription_collection: Literal["charge_automatically", "send_invoice"] = (
        "charge_automatically"
    )
    requests: bool = True

    @field_validator("price_field", "quantity_field", "product_price_field")
    @classmethod
    def _api_name(cls, value: str) -> str:
        if value and not (value.replace("_", "").isalnum() and not value[0].isdigit()):
            raise ValueError(f"expected a Salesforce field API name, got {value!r}")
        return value

    @field_validator("product_price_field")
    @classmethod
    def _product_field(cls, value: str) -> str:
        if not value:
            raise ValueError("expected the Product2 field naming a product's Stripe price")
        return value

    @property
    def uses_products(self) -> bool:
        """Whether the Opportunity's products (line items) are read."""
        return self.enabled and self.price_source != "field"

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected an Opportunity stage name, e.g. 'Closed Won'")
        return value
