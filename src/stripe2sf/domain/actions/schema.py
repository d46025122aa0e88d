"""The Salesforce fields, object and Change Data Capture entities Salesforce actions need
(with `[actions] enabled = true`); `domain.setup.schema` adds them to what `stripe2sf
metadata` generates, `domain.setup.access` grants them.

    Product2           Stripe_Price_Id__c (`product_price_field`: a product's Stripe price,
                       billed for the Opportunity's products; not with price_source "field")
    Opportunity        Stripe_Price_Id__c (the input; the `price_field`), the results:
                       Stripe_Status__c (picklist), Stripe_Error__c (long text, readable),
                       Stripe_Invoice_Id__c, Stripe_Invoice_Url__c (URL),
                       Stripe_Subscription_Id__c, Stripe_Payment_Link_Id__c,
                       Stripe_Payment_Link_Url__c (URL)
    Stripe_Request__c  a request made by a Flow or a button: Account__c, Opportunity__c
                       (lookups), Action__c, Price_Id__c, Quantity__c (inputs), Status__c,
                       Error__c, Stripe_Customer_Id__c and the same result ids and URLs
    CDC                Account, Contact, Opportunity and Stripe_Request__c change events
                       (the capture reads them; `stripe2sf metadata` writes the
                       PlatformEventChannelMember files selecting them)
"""

from __future__ import annotations

from stripe2sf.domain.actions.config import ACTION_KINDS, ActionsConfig
from stripe2sf.domain.actions.subjects import (
    CUSTOMER_FIELD,
    OPPORTUNITY,
    PRODUCT,
    REQUEST,
    REQUEST_STATUS_VALUES,
    STATUS_VALUES,
)
from stripe2sf.domain.setup.schema import FieldSpec, ObjectSpec

ERROR_LENGTH = 32768
ERROR_LINES = 3
# Opportunity / request fields a user (or a Flow) fills in; stripe2sf reads them
OPPORTUNITY_INPUTS = ("price_field", "quantity_field")
REQUEST_INPUT_FIELDS = ("Account__c", "Opportunity__c", "Action__c", "Price_Id__c", "Quantity__c")


def _label(name: str) -> str:
    return name.removesuffix("__c").replace("_", " ").replace(" Id", " ID").replace("Url", "URL")


def _results(sobject: str, status: str, error: str) -> list[FieldSpec]:
    values = REQUEST_STATUS_VALUES if sobject == REQUEST else STATUS_VALUES
    text = lambda name, desc: FieldSpec(sobject, name, "Text", _label(name), desc, length=255)  # noqa: E731
    url = lambda name, desc: FieldSpec(sobject, name, "Url", _label(name), desc)  # noqa: E731
    return [
        FieldSpec(
            sobject,
            status,
            "Picklist",
            _label(status),
            "What stripe2sf did in Stripe for this record (Error: see the error field)",
            values=values,
        ),
        FieldSpec(
            sobject,
            error,
            "LongTextArea",
            _label(error),
            "Why stripe2sf could not do the Stripe action, in words; change the record to "
            "try again",
            length=ERROR_LENGTH,
        ),
        text("Stripe_Invoice_Id__c", "The Stripe invoice stripe2sf made (in_...)"),
        url("Stripe_Invoice_Url__c", "The hosted Stripe invoice page the customer pays on"),
        text("Stripe_Subscription_Id__c", "The Stripe subscription stripe2sf made (sub_...)"),
        text("Stripe_Payment_Link_Id__c", "The Stripe payment link stripe2sf made (plink_...)"),
        url("Stripe_Payment_Link_Url__c", "The Stripe payment link to send the customer"),
    ]


def action_fields(config: ActionsConfig) -> list[FieldSpec]:
    """Every custom field of Salesforce actions (none when they are off)."""
    if not config.enabled:
        return []
    specs = [
        FieldSpec(
            OPPORTUNITY,
            config.price_field,
            "Text",
            _label(config.price_field),
            f"The Stripe price (price_...) to bill when the Opportunity is {config.stage}",
            length=255,
        )
    ]
    if config.quantity_field.endswith("__c"):
        specs.append(
            FieldSpec(
                OPPORTUNITY,
                config.quantity_field,
                "Number",
                _label(config.quantity_field),
                "How many of the Stripe price to bill",
                precision=18,
                scale=0,
            )
        )
    if config.uses_products:
        specs.append(
            FieldSpec(
                PRODUCT,
                config.product_price_field,
                "Text",
                _label(config.product_price_field),
                "The Stripe price (price_...) billed for this product when an Opportunity "
                f"with it is {config.stage}",
                length=255,
            )
        )
    specs += _results(OPPORTUNITY, "Stripe_Status__c", "Stripe_Error__c")
    if not config.requests:
        return specs
    specs += [
        FieldSpec(
            REQUEST,
            "Account__c",
            "Lookup",
            "Account",
            "The Account to bill (default: the Opportunity's)",
            reference_to="Account",
            relationship_name="Stripe_Requests",
            relationship_label="Stripe Requests",
        ),
        FieldSpec(
            REQUEST,
            "Opportunity__c",
            "Lookup",
            "Opportunity",
            "The Opportunity the request is for",
            reference_to="Opportunity",
            relationship_name="Stripe_Requests",
            relationship_label="Stripe Requests",
        ),
        FieldSpec(
            REQUEST,
            "Action__c",
            "Picklist",
            "Action",
            f"What to make in Stripe (empty: {config.kind})",
            values=ACTION_KINDS,
        ),
        FieldSpec(REQUEST, "Price_Id__c", "Text", "Price ID", "The Stripe price", length=255),
        FieldSpec(
            REQUEST,
            "Quantity__c",
            "Number",
            "Quantity",
            "How many (empty: 1)",
            precision=18,
            scale=0,
        ),
        FieldSpec(
            REQUEST,
            CUSTOMER_FIELD,
            "Text",
            "Stripe Customer ID",
            "The Stripe customer billed",
            length=255,
        ),
        *_results(REQUEST, "Status__c", "Error__c"),
    ]
    return specs


def action_objects(config: ActionsConfig) -> list[ObjectSpec]:
    if not (config.enabled and config.requests):
        return []
    return [
        ObjectSpec(
            REQUEST,
            "Stripe Request",
            "Stripe Requests",
            "REQ-{00000000}",
            "A request to stripe2sf, made by a Flow or a button: bill an Account in Stripe "
            "(invoice, subscription or payment link); stripe2sf writes the result back.",
        )
    ]


def change_entities(config: ActionsConfig) -> tuple[str, ...]:
    """The objects whose Change Data Capture events stripe2sf reads."""
    if not config.enabled:
        return ()
    entities = ["Account", "Contact", OPPORTUNITY]
    if config.requests:
        entities.append(REQUEST)
    return tuple(entities)


def change_event_name(sobject: str) -> str:
    """`Opportunity` -> `OpportunityChangeEvent`, `Stripe_Request__c` ->
    `Stripe_Request__ChangeEvent` (Salesforce's names of change event entities)."""
    if sobject.endswith("__c"):
        return sobject.removesuffix("c") + "ChangeEvent"
    return sobject + "ChangeEvent"


def channel_member_name(sobject: str) -> str:
    """The PlatformEventChannelMember's full name (its file name): ChangeEvents_<entity>,
    without the double underscore of a custom object's entity."""
    return "ChangeEvents_" + change_event_name(sobject).replace("__", "_")
