"""`[salesforce_to_stripe]` of stripe2sf.toml: which Salesforce fields are written to the linked
Stripe customer, and when.

    [salesforce_to_stripe]
    enabled = true
    # Stripe customer field = "Object.Field", or a list of fields of one object joined by a
    # space (name = ["Contact.FirstName", "Contact.LastName"]); "" drops a default
    fields = { phone = "Contact.MobilePhone" }
    # Salesforce users whose changes are never sent to Stripe, besides stripe2sf's own
    ignore_user_ids = ["005..."]
    # a Stripe edit of a field Salesforce owns is put back to Salesforce's value
    reassert_on_conflict = true

A mapping applies only while Salesforce owns its fields (`[ownership]` "salesforce" or
"create_only": once the record exists Salesforce owns it); the defaults that name a
Stripe-owned field stay inactive (`stripe2sf mapping export` says so), a configured one is a
configuration error.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Stripe customer fields stripe2sf may write (address parts are sent together).
STRIPE_FIELDS: tuple[str, ...] = (
    "email",
    "name",
    "phone",
    "description",
    "address.line1",
    "address.line2",
    "address.city",
    "address.state",
    "address.postal_code",
    "address.country",
)
# Salesforce objects whose changes reach a Stripe customer.
SOURCE_OBJECTS: tuple[str, ...] = ("Account", "Contact")

# Business accounts: the company's name is the customer's name (as customer.display_name ->
# Account.Name the other way), the primary Contact's email and phone, the billing address.
DEFAULT_FIELDS: Mapping[str, str | tuple[str, ...]] = {
    "email": "Contact.Email",
    "name": "Account.Name",
    "phone": "Contact.Phone",
    "address.line1": "Account.BillingStreet",
    "address.city": "Account.BillingCity",
    "address.state": "Account.BillingState",
    "address.postal_code": "Account.BillingPostalCode",
    "address.country": "Account.BillingCountry",
}
# Person accounts: the name is the person's (Account.Name is Salesforce's "FirstName LastName");
# Contact fields arrive on the Account under their person names (`domain.matching.person`).
PERSON_DEFAULT_FIELDS: Mapping[str, str | tuple[str, ...]] = {
    **DEFAULT_FIELDS,
    "name": ("Contact.FirstName", "Contact.LastName"),
}


class ReverseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    fields: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    ignore_user_ids: tuple[str, ...] = ()
    reassert_on_conflict: bool = True

    @field_validator("fields")
    @classmethod
    def _known_targets(
        cls, value: dict[str, str | tuple[str, ...]]
    ) -> dict[str, str | tuple[str, ...]]:
        unknown = sorted(k for k in value if k not in STRIPE_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown Stripe customer fields {unknown}; expected some of {list(STRIPE_FIELDS)}"
            )
        return value
