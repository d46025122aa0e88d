"""What a captured Salesforce change asks of Stripe (pure).

A change is looked at twice: first from the event alone (`may_act`: could it start an action?
most Opportunity updates cannot, and cost no read), then from the record as Salesforce has it
now (`opportunity_subject`, `request_subject`; CDC update events carry only the changed
fields) -> a `Subject` to act on, or a `Skip` saying why not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from stripe2sf.domain.actions.config import ACTION_KINDS, ActionKind, ActionsConfig
from stripe2sf.domain.capture.change import SalesforceChange

OPPORTUNITY = "Opportunity"
REQUEST = "Stripe_Request__c"
PRODUCT = "Product2"
LINE_ITEM = "OpportunityLineItem"
CONTACT_ROLE = "OpportunityContactRole"
PRICEBOOK_ENTRY = "PricebookEntry"
CUSTOMER_FIELD = "Stripe_Customer_Id__c"  # on Account (the sync's link) and on the request

# result key -> the field it is written to, per object (None: not written there)
OPPORTUNITY_FIELDS: Mapping[str, str] = {
    "status": "Stripe_Status__c",
    "error": "Stripe_Error__c",
    "invoice_id": "Stripe_Invoice_Id__c",
    "invoice_url": "Stripe_Invoice_Url__c",
    "subscription_id": "Stripe_Subscription_Id__c",
    "payment_link_id": "Stripe_Payment_Link_Id__c",
    "payment_link_url": "Stripe_Payment_Link_Url__c",
}
REQUEST_FIELDS: Mapping[str, str] = {
    "status": "Status__c",
    "error": "Error__c",
    "customer_id": CUSTOMER_FIELD,
    "invoice_id": "Stripe_Invoice_Id__c",
    "invoice_url": "Stripe_Invoice_Url__c",
    "subscription_id": "Stripe_Subscription_Id__c",
    "payment_link_id": "Stripe_Payment_Link_Id__c",
    "payment_link_url": "Stripe_Payment_Link_Url__c",
}
# the inputs of a request record
REQUEST_INPUTS = ("Account__c", "Opportunity__c", "Action__c", "Price_Id__c", "Quantity__c")

# Stripe_Status__c / Status__c values (a restricted picklist)
INVOICE_SENT = "Invoice sent"
SUBSCRIPTION_ACTIVE = "Subscription active"
SUBSCRIPTION_TRIALING = "Subscription trialing"
SUBSCRIPTION_INCOMPLETE = "Subscription incomplete"
LINK_CREATED = "Payment link created"
ERROR = "Error"
NEW = "New"
STATUS_VALUES = (
    INVOICE_SENT,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_TRIALING,
    SUBSCRIPTION_INCOMPLETE,
    LINK_CREATED,
    ERROR,
)
REQUEST_STATUS_VALUES = (NEW, *STATUS_VALUES)
# what a finished action of each kind leaves on its record
DONE_WHEN: Mapping[ActionKind, str] = {
    "invoice": "invoice_id",
    "subscription": "subscription_id",
    "payment_link": "payment_link_url",
}


@dataclass(frozen=True)
class Line:
    """One thing to bill: an Opportunity product (`line_id`, its product's `name`, its number
    in the Opportunity's order), or the Opportunity's price field (`line_id` None)."""

    number: int
    line_id: str | None
    name: str
    price_id: str | None
    quantity: int

    @property
    def label(self) -> str:
        """How an error names the line: 'line 2 (Widget Pro)'."""
        return f"line {self.number} ({self.name})" if self.line_id else ""


@dataclass(frozen=True)
class Subject:
    """One action to do: on which record (`sobject`, `record_id`), for which Account, with
    which price. `problem`: a readable reason it cannot be done (written back as the error)."""

    sobject: str
    record_id: str
    kind: ActionKind
    account_id: str | None
    account_name: str | None
    customer_id: str | None  # the Account's Stripe customer, when it is linked
    price_id: str | None
    quantity: int
    opportunity_id: str | None = None
    problem: str | None = None
    lines: tuple[Line, ...] = ()  # the Opportunity's products; empty: `price_id`, `quantity`

    @property
    def billed(self) -> tuple[Line, ...]:
        """What is billed: the products, or the one price of the record's price field."""
        return self.lines or (Line(1, None, "", self.price_id, self.quantity),)

    @property
    def scope(self) -> str:
        """Part of every idempotency key of this action: one action per record."""
        return ("opp-" if self.sobject == OPPORTUNITY else "req-") + self.record_id

    @property
    def result_fields(self) -> Mapping[str, str]:
        return OPPORTUNITY_FIELDS if self.sobject == OPPORTUNITY else REQUEST_FIELDS


@dataclass(frozen=True)
class Skip:
    reason: str


def opportunity_soql(config: ActionsConfig, record_id: str) -> str:
    fields = [
        "Id",
        "Name",
        "StageName",
        "AccountId",
        "Account.Name",
        f"Account.{CUSTOMER_FIELD}",
        config.price_field,
        *([config.quantity_field] if config.quantity_field else []),
        *OPPORTUNITY_FIELDS.values(),
    ]
    return (
        f"SELECT {', '.join(dict.fromkeys(fields))} FROM Opportunity WHERE Id = '{_id(record_id)}'"
    )


def request_soql(record_id: str) -> str:
    fields = [
        "Id",
        *REQUEST_INPUTS,
        "Account__r.Name",
        f"Account__r.{CUSTOMER_FIELD}",
        "Opportunity__r.AccountId",
        "Opportunity__r.Account.Name",
        f"Opportunity__r.Account.{CUSTOMER_FIELD}",
        *REQUEST_FIELDS.values(),
    ]
    return f"SELECT {', '.join(dict.fromkeys(fields))} FROM {REQUEST} WHERE Id = '{_id(record_id)}'"


def lines_soql(config: ActionsConfig, opportunity_id: str) -> str:
    """The Opportunity's products, in the order Salesforce shows them."""
    fields = [
        "Id",
        "Quantity",
        "Product2Id",
        "Product2.Name",
        f"Product2.{config.product_price_field}",
    ]
    return (
        f"SELECT {', '.join(fields)} FROM {LINE_ITEM} WHERE OpportunityId = "
        f"'{_id(opportunity_id)}' ORDER BY SortOrder, CreatedDate, Id"
    )


def contact_roles_soql(opportunity_id: str) -> str:
    """The Opportunity's contact roles: the new customer's email comes from the primary."""
    return (
        f"SELECT ContactId, Contact.Email, Contact.AccountId, Contact.{CUSTOMER_FIELD}, IsPrimary "
        f"FROM {CONTACT_ROLE} WHERE OpportunityId = "
        f"'{_id(opportunity_id)}' ORDER BY CreatedDate, Id"
    )


def contacts_soql(account_id: str) -> str:
    """The Account's Contacts with an email, oldest first: the new customer's email."""
    return (
        f"SELECT Id, Email, AccountId, {CUSTOMER_FIELD} FROM Contact WHERE AccountId = "
        f"'{_id(account_id)}' AND Email != null ORDER BY CreatedDate LIMIT 1"
    )


def _id(value: str) -> str:
    if not value.isalnum():
        raise ValueError(f"not a Salesforce record Id: {value!r}")
    return value


def may_act(change: SalesforceChange, config: ActionsConfig) -> bool:
    """Whether the change alone could start an action (no read needed to say no): an
    Opportunity created or updated in its stage or price, a request record created."""
    if not config.enabled or change.change not in ("created", "updated", "undeleted"):
        return False
    if change.entity == REQUEST:
        return config.requests and change.change == "created"
    if change.entity != OPPORTUNITY:
        return False
    watched = {"StageName", config.price_field}
    if config.quantity_field:
        watched.add(config.quantity_field)
    if config.uses_products:  # Salesforce sums the products into Amount: a line changed
        watched.add("Amount")
    if change.change == "updated" and not watched & set(change.changed):
        return False
    stage = change.fields.get("StageName")
    return stage is None or stage == config.stage


def _str(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parent(row: Mapping[str, Any], *path: str) -> Any:
    node: Any = row
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _quantity(value: Any) -> int | None:
    """A whole quantity of at least 1 (None: not one)."""
    if value is None or value == "":
        return 1
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if number != number.to_integral_value() or number < 1:
        return None
    return int(number)


def already_done(row: Mapping[str, Any], fields: Mapping[str, str], kind: ActionKind) -> bool:
    """The record already shows the result of its action (written back by an earlier run):
    a change delivered again, days later, does nothing."""
    return bool(_str(row, fields[DONE_WHEN[kind]]))


def opportunity_skip(row: Mapping[str, Any], config: ActionsConfig) -> Skip | None:
    """Why the Opportunity (as read now) asks for nothing (None: it asks for its action)."""
    if row.get("StageName") != config.stage:
        return Skip(f"stage is {row.get('StageName')!r}, not {config.stage!r}")
    if already_done(row, OPPORTUNITY_FIELDS, config.kind):
        return Skip(f"already done: {OPPORTUNITY_FIELDS[DONE_WHEN[config.kind]]} is set")
    return None


def opportunity_subject(
    row: Mapping[str, Any],
    config: ActionsConfig,
    line_rows: Sequence[Mapping[str, Any]] = (),
) -> Subject | Skip:
    """The action an Opportunity (as read now) asks for; `line_rows`: its products
    (`lines_soql`), billed instead of its price field by `[actions] price_source`."""
    skip = opportunity_skip(row, config)
    if skip is not None:
        return skip
    record_id = str(row["Id"])
    account = _parent(row, "Account") or {}
    subject = Subject(
        OPPORTUNITY,
        record_id,
        config.kind,
        account_id=_str(row, "AccountId"),
        account_name=_str(account, "Name"),
        customer_id=_str(account, CUSTOMER_FIELD),
        price_id=None,
        quantity=1,
        opportunity_id=record_id,
    )
    if config.price_source == "products" or (config.price_source == "auto" and line_rows):
        return _with_lines(subject, line_rows, config)
    quantity = _quantity(row.get(config.quantity_field)) if config.quantity_field else 1
    subject = replace(subject, price_id=_str(row, config.price_field), quantity=quantity or 1)
    return _with_problem(subject, quantity, config.price_field, config.quantity_field)


def _with_lines(
    subject: Subject, line_rows: Sequence[Mapping[str, Any]], config: ActionsConfig
) -> Subject:
    """The subject billing the Opportunity's products, with every line's problem said."""
    if not line_rows:
        return replace(
            subject,
            problem="the Opportunity has no products: add its products, or set [actions] "
            'price_source = "auto" to bill its ' + config.price_field,
        )
    field = f"{PRODUCT}.{config.product_price_field}"
    lines: list[Line] = []
    problems: list[str] = []
    for number, row in enumerate(line_rows, start=1):
        product = _parent(row, "Product2") or {}
        name = _str(product, "Name") or _str(row, "Product2Id") or str(row.get("Id"))
        price_id = _str(product, config.product_price_field)
        quantity = _quantity(row.get("Quantity"))
        line = Line(number, str(row["Id"]), name, price_id, quantity or 1)
        lines.append(line)
        if price_id is None:
            problems.append(
                f"{line.label}: the product has no Stripe price: set {field} of {name} "
                "to the id of a Stripe price (price_...)"
            )
        elif not price_id.startswith(("price_", "plan_")):
            problems.append(
                f"{line.label}: the product's {field} is {price_id!r}, which is not a Stripe "
                "price id (they start with 'price_')"
            )
        elif quantity is None:
            problems.append(
                f"{line.label}: the quantity is {row.get('Quantity')!r}; Stripe bills whole "
                "quantities of at least 1"
            )
    subject = replace(subject, lines=tuple(lines))
    if problems:
        return replace(subject, problem="; ".join(problems))
    if subject.kind != "payment_link" and subject.account_id is None:
        return replace(
            subject, problem="no Account: the Stripe customer is made from the Account; set one"
        )
    return subject


def choose_contact(
    roles: Sequence[Mapping[str, Any]],
    account_contacts: Sequence[Mapping[str, Any]] = (),
    account_id: str | None = None,
) -> tuple[str | None, str] | None:
    """(Contact Id, email) of the new customer: the Opportunity's primary contact role's
    Contact (`contact_roles_soql`), else its first contact role with an email, else the
    Account's oldest Contact with an email (`contacts_soql`); None when none has one. The
    Contact Id (to link to the new customer) is None for a Contact of another Account, or one
    linked to a Stripe customer already: its email is used, its link left alone."""
    people = [(r.get("IsPrimary") is True, _parent(r, "Contact") or {}, r) for r in roles]
    with_email = [p for p in people if _str(p[1], "Email")]
    ordered = [p for p in with_email if p[0]] + [p for p in with_email if not p[0]]
    candidates = [(contact, _str(role, "ContactId")) for _, contact, role in ordered]
    candidates += [(c, _str(c, "Id")) for c in account_contacts if _str(c, "Email")]
    if not candidates:
        return None
    contact, contact_id = candidates[0]
    linkable = _str(contact, CUSTOMER_FIELD) is None and (
        account_id is None or _str(contact, "AccountId") in (None, account_id)
    )
    return (contact_id if linkable else None), str(_str(contact, "Email"))


def request_subject(row: Mapping[str, Any], config: ActionsConfig) -> Subject | Skip:
    """The action a Stripe_Request__c record asks for: its own Account (or its Opportunity's),
    action (default: `[actions] kind`), price and quantity."""
    record_id = str(row["Id"])
    action = _str(row, "Action__c")
    kind: ActionKind = config.kind
    problem = None
    if action is not None:
        wanted = action.lower().replace(" ", "_")
        if wanted in ACTION_KINDS:
            kind = ACTION_KINDS[ACTION_KINDS.index(wanted)]
        else:
            problem = (
                f"Action__c is {action!r}; expected one of "
                f"{', '.join(repr(k) for k in ACTION_KINDS)}"
            )
    if already_done(row, REQUEST_FIELDS, kind):
        return Skip(f"already done: {REQUEST_FIELDS[DONE_WHEN[kind]]} is set")
    status = _str(row, "Status__c")
    if status is not None and status != NEW:
        return Skip(f"Status__c is {status!r}: only new requests are acted on")
    account = _parent(row, "Account__r")
    via_opportunity = _parent(row, "Opportunity__r", "Account")
    account_id = _str(row, "Account__c") or _str(_parent(row, "Opportunity__r") or {}, "AccountId")
    source = account if _str(row, "Account__c") else via_opportunity
    quantity = _quantity(row.get("Quantity__c"))
    subject = Subject(
        REQUEST,
        record_id,
        kind,
        account_id=account_id,
        account_name=_str(source or {}, "Name"),
        customer_id=_str(source or {}, CUSTOMER_FIELD),
        price_id=_str(row, "Price_Id__c"),
        quantity=quantity or 1,
        opportunity_id=_str(row, "Opportunity__c"),
        problem=problem,
    )
    return _with_problem(subject, quantity, "Price_Id__c", "Quantity__c")


def _with_problem(
    subject: Subject, quantity: int | None, price_field: str, quantity_field: str
) -> Subject:
    if subject.problem:
        return subject
    problem = None
    if subject.price_id is None:
        problem = f"no Stripe price: set {price_field} to the id of a Stripe price (price_...)"
    elif not subject.price_id.startswith("price_") and not subject.price_id.startswith("plan_"):
        problem = (
            f"{price_field} is {subject.price_id!r}, which is not a Stripe price id "
            "(they start with 'price_')"
        )
    elif quantity is None:
        problem = f"{quantity_field} must be a whole number of at least 1"
    elif subject.kind != "payment_link" and subject.account_id is None:
        problem = "no Account: the Stripe customer is made from the Account; set one"
    if problem is None:
        return subject
    return replace(subject, problem=problem)
