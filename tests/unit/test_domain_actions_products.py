"""Salesforce actions billing an Opportunity's products (pure): the lines read from
OpportunityLineItem rows, an error per line, the Stripe requests per line with their keys,
the draft invoice reconciled to the lines, and the new customer's Contact."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.actions.steps import (
    Done,
    Failure,
    LinkAccount,
    StripeCall,
    kept,
    next_step,
    readable_stripe_error,
)
from stripe2sf.domain.actions.subjects import (
    Subject,
    choose_contact,
    contact_roles_soql,
    lines_soql,
    opportunity_subject,
)

ON = ActionsConfig(enabled=True)
OPP = "006000000000001AAA"
ACCT = "001000000000001AAA"
L1, L2, L3 = "00k000000000001AAA", "00k000000000002AAA", "00k000000000003AAA"


def opp_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Id": OPP,
        "StageName": "Closed Won",
        "AccountId": ACCT,
        "Account": {"Name": "Acme", "Stripe_Customer_Id__c": None},
        "Stripe_Price_Id__c": "price_field",
        "Stripe_Invoice_Id__c": None,
    }
    row.update(over)
    return row


def line(line_id: str, name: str, price: str | None, quantity: Any = 1.0) -> dict[str, Any]:
    return {
        "Id": line_id,
        "Quantity": quantity,
        "Product2Id": "01t" + line_id[3:],
        "Product2": {"Name": name, "Stripe_Price_Id__c": price},
    }


WIDGET = line(L1, "Widget", "price_w", 2.0)
SETUP = line(L2, "Setup", "price_s", 1.0)


def subject(config: ActionsConfig = ON, *lines: dict[str, Any]) -> Subject:
    found = opportunity_subject(opp_row(), config, list(lines))
    assert isinstance(found, Subject)
    return found


def price(pid: str, *, recurring: str | None = None, currency: str = "usd") -> dict[str, Any]:
    answer: dict[str, Any] = {"id": pid, "object": "price", "currency": currency}
    answer["type"] = "recurring" if recurring else "one_time"
    answer["recurring"] = {"interval": recurring, "interval_count": 1} if recurring else None
    return answer


def drive(
    s: Subject,
    config: ActionsConfig,
    prices: dict[str, dict[str, Any]],
    progress: dict[str, Any] | None = None,
    draft: list[dict[str, Any]] | None = None,
) -> tuple[list[StripeCall], Any, dict[str, Any]]:
    """`next_step` with made-up Stripe answers until it ends; every call and the end."""
    progress = dict(progress or {})
    calls: list[StripeCall] = []
    for n in range(40):
        step = next_step(s, progress, config, email="ap@acme.example", contact_id="003X")
        if isinstance(step, LinkAccount):
            assert step.contact_id == "003X"
            progress["link"] = {"account_id": step.account_id}
            continue
        if not isinstance(step, StripeCall):
            return calls, step, progress
        calls.append(step)
        name = step.step
        if name.startswith("price"):
            answer = prices[step.path.rsplit("/", 1)[-1]]
        elif name.startswith("draft_items"):
            answer = {"data": draft or []}
        elif name.startswith(("item-", "invoiceitem")):
            answer = {"id": f"ii_new{n}", "object": "invoiceitem"}
        else:
            answer = {
                "customer": {"id": "cus_new"},
                "invoice": {"id": "in_1", "status": "draft"},
                "finalize": {"id": "in_1", "hosted_invoice_url": "https://inv/1"},
                "send": {"id": "in_1", "hosted_invoice_url": "https://inv/1"},
                "subscription": {"id": "sub_1", "status": "active", "latest_invoice": "in_2"},
                "payment_link": {"id": "plink_1", "url": "https://buy/1"},
            }.get(name.split("-")[0], {"id": "x"})
        progress[name] = kept(name, answer)
        if answer.get("missing"):  # as the engine keeps a price Stripe does not have
            progress[name]["missing"] = True
    raise AssertionError("no end")


def test_lines_from_the_opportunitys_products_by_price_source() -> None:
    s = subject(ON, WIDGET, SETUP)
    assert [(ln.number, ln.line_id, ln.name, ln.price_id, ln.quantity) for ln in s.lines] == [
        (1, L1, "Widget", "price_w", 2),
        (2, L2, "Setup", "price_s", 1),
    ]
    assert s.problem is None and s.billed == s.lines
    # auto without products: the Opportunity's field, as before
    plain = subject(ON)
    assert plain.lines == () and plain.billed[0].price_id == "price_field"
    # "field" ignores the products; "products" needs some
    field_only = subject(ActionsConfig(enabled=True, price_source="field"), WIDGET)
    assert field_only.lines == () and field_only.price_id == "price_field"
    none = subject(ActionsConfig(enabled=True, price_source="products"))
    assert str(none.problem).startswith("the Opportunity has no products")
    assert "Product2.Stripe_Price_Id__c" in lines_soql(ON, OPP)
    custom = ActionsConfig(enabled=True, product_price_field="Billing_Price__c")
    assert "Product2.Billing_Price__c" in lines_soql(custom, OPP)
    assert "OpportunityId = '" + OPP + "'" in contact_roles_soql(OPP)


def test_a_changed_amount_may_act_when_products_are_billed() -> None:
    """Salesforce sums an Opportunity's products into Amount: a line added, edited or
    removed changes it, so a corrected line tries again; not with the price field only."""
    from stripe2sf.domain.actions.subjects import may_act
    from stripe2sf.domain.capture.change import SalesforceChange

    amount = SalesforceChange(
        entity="Opportunity",
        change="updated",
        record_id=OPP,
        fields={"Amount": 300.0},
        changed=("Amount",),
        commit_ts_ms=1,
        source="cdc",
        position="t:1",
    )
    assert may_act(amount, ON)
    assert not may_act(amount, ActionsConfig(enabled=True, price_source="field"))


def test_each_line_says_its_own_problem() -> None:
    s = subject(ON, WIDGET, line(L2, "Widget Pro", None), line(L3, "Gadget", "gold", 1.5))
    assert s.problem == (
        "line 2 (Widget Pro): the product has no Stripe price: set "
        "Product2.Stripe_Price_Id__c of Widget Pro to the id of a Stripe price (price_...); "
        "line 3 (Gadget): the product's Product2.Stripe_Price_Id__c is 'gold', which is not a "
        "Stripe price id (they start with 'price_')"
    )
    half = subject(ON, line(L1, "Widget", "price_w", 1.5))
    assert "line 1 (Widget): the quantity is 1.5" in str(half.problem)
    assert next_step(s, {}, ON) == Failure(str(s.problem))
    # a Stripe price that does not exist, or a recurring one on an invoice, named by line
    two = subject(ON, WIDGET, SETUP)
    prices = {"price_w": price("price_w"), "price_s": {"id": "price_s", "missing": True}}
    _, end, _ = drive(two, ON, prices)
    assert end == Failure(
        "line 2 (Setup): Stripe has no price 'price_s': check Product2.Stripe_Price_Id__c of Setup"
    )
    _, end, _ = drive(
        two, ON, {"price_w": price("price_w", recurring="month"), "price_s": price("price_s")}
    )
    assert isinstance(end, Failure) and end.reason.startswith(
        "line 1 (Widget): the Stripe price 'price_w' is recurring, and an invoice takes one-time"
    )
    _, end, _ = drive(
        two, ON, {"price_w": price("price_w"), "price_s": price("price_s", currency="eur")}
    )
    assert (
        isinstance(end, Failure)
        and "line 1 (Widget) is in USD and line 2 (Setup) in EUR" in end.reason
    )


def test_an_invoice_gets_one_item_per_line_each_keyed_by_its_line() -> None:
    s = subject(ON, WIDGET, SETUP, line(L3, "Widget again", "price_w", 1.0))
    prices = {"price_w": price("price_w"), "price_s": price("price_s")}
    calls, end, _ = drive(s, ON, prices)
    assert [c.step for c in calls] == [
        "price-price_w",  # each price read once
        "price-price_s",
        "customer",
        "invoice",
        "draft_items",
        f"item-{L1}-price_w-2",
        f"item-{L2}-price_s-1",
        f"item-{L3}-price_w-1",
        "finalize",
        "send",
    ]
    items = [c for c in calls if c.step.startswith("item-")]
    assert [c.idempotency_key for c in items] == [
        f"stripe2sf-opp-{OPP}-item-{L1}-price_w-2",
        f"stripe2sf-opp-{OPP}-item-{L2}-price_s-1",
        f"stripe2sf-opp-{OPP}-item-{L3}-price_w-1",
    ]
    assert [(c.params["price"], c.params["quantity"]) for c in items] == [
        ("price_w", 2),
        ("price_s", 1),
        ("price_w", 1),
    ]
    assert items[0].params["metadata"]["salesforce_line_id"] == L1
    assert isinstance(end, Done) and end.results["invoice_id"] == "in_1"


def test_the_draft_is_reconciled_to_the_lines_after_a_crash() -> None:
    """Items a try that died made stay when they still fit their line; an edited line's and
    a removed line's items are deleted, a duplicate too; missing lines are added."""
    s = subject(ON, WIDGET, SETUP)
    prices = {"price_w": price("price_w"), "price_s": price("price_s")}
    _, _, done = drive(s, ON, prices)
    base = {
        k: v
        for k, v in done.items()
        if k in ("price-price_w", "price-price_s", "customer", "link", "invoice")
    }

    def item(item_id: str, line_id: str, pid: str, quantity: int) -> dict[str, Any]:
        return {
            "id": item_id,
            "pricing": {"price_details": {"price": pid}},
            "quantity": quantity,
            "metadata": {"salesforce_line_id": line_id},
        }

    draft = [
        item("ii_w_old", L1, "price_w", 5),  # Widget's quantity was 5 when the item was made
        item("ii_s", L2, "price_s", 1),  # fits: kept
        item("ii_s_twice", L2, "price_s", 1),  # a second of the same line
        item("ii_gone", L3, "price_x", 1),  # a line removed since
    ]
    calls, end, _ = drive(s, ON, prices, base, draft)
    assert [c.step for c in calls] == [
        "draft_items",
        "drop-ii_w_old",
        "drop-ii_s_twice",
        "drop-ii_gone",
        f"item-{L1}-price_w-2-d3",
        "finalize",
        "send",
    ]
    assert [c.method for c in calls[1:4]] == ["delete"] * 3
    assert isinstance(end, Done)
    # everything fits: nothing made again
    fitting = [item("ii_w", L1, "price_w", 2), item("ii_s", L2, "price_s", 1)]
    calls, _, _ = drive(s, ON, prices, base, fitting)
    assert [c.step for c in calls] == ["draft_items", "finalize", "send"]


def test_a_subscription_item_per_recurring_price_one_time_ones_on_its_first_invoice() -> None:
    config = ActionsConfig(enabled=True, kind="subscription")
    seats = line(L1, "Seats", "price_m", 3.0)
    more = line(L2, "More seats", "price_m", 2.0)
    s = subject(config, seats, more, SETUP)
    prices = {"price_m": price("price_m", recurring="month"), "price_s": price("price_s")}
    calls, end, _ = drive(s, config, prices)
    sub = calls[-1]
    assert sub.step == "subscription"
    assert sub.params["items"] == [{"price": "price_m", "quantity": 5}]
    assert sub.params["add_invoice_items"] == [{"price": "price_s", "quantity": 1}]
    assert isinstance(end, Done) and end.results["subscription_id"] == "sub_1"
    # only one-time products, or two intervals: said
    _, end, _ = drive(subject(config, SETUP), config, prices)
    assert (
        isinstance(end, Failure)
        and "none of the Opportunity's products has a recurring" in end.reason
    )
    yearly = line(L3, "Support", "price_y", 1.0)
    prices["price_y"] = price("price_y", recurring="year")
    _, end, _ = drive(subject(config, seats, yearly), config, prices)
    assert end == Failure(
        "line 1 (Seats) bills every month and line 2 (Support) every year: one subscription "
        "bills at one interval; put them on two Opportunities"
    )


def test_a_payment_link_has_a_line_per_line() -> None:
    config = ActionsConfig(enabled=True, kind="payment_link")
    s = subject(config, WIDGET, SETUP)
    calls, end, _ = drive(s, config, {"price_w": price("price_w"), "price_s": price("price_s")})
    assert calls[-1].params["line_items"] == [
        {"price": "price_w", "quantity": 2},
        {"price": "price_s", "quantity": 1},
    ]
    assert isinstance(end, Done) and end.results["payment_link_url"] == "https://buy/1"


def test_a_stripe_refusal_of_a_lines_item_names_the_line() -> None:
    s = subject(ON, WIDGET, SETUP)
    call = StripeCall(f"item-{L2}-price_s-1", "post", "/v1/invoiceitems", {}, "stripe2sf-x")
    said = readable_stripe_error(call, s, code="parameter_invalid", param="x", message="Bad")
    assert said == "line 2 (Setup): Stripe refused to create the invoice item: Bad"
    missing = readable_stripe_error(call, s, code="resource_missing", param="price", message="")
    assert (
        missing
        == "line 2 (Setup): Stripe has no price 'price_s': check the products' Stripe prices"
    )


def role(
    contact_id: str, email: str | None, primary: bool = False, **contact: Any
) -> dict[str, Any]:
    return {
        "ContactId": contact_id,
        "IsPrimary": primary,
        "Contact": {"Email": email, "AccountId": ACCT, "Stripe_Customer_Id__c": None, **contact},
    }


def test_the_new_customers_contact() -> None:
    roles = [
        role("003A", "a@x.example"),
        role("003B", "b@x.example", True),
        role("003C", None, True),
    ]
    # the primary contact role with an email, then the first with one
    assert choose_contact(roles, account_id=ACCT) == ("003B", "b@x.example")
    assert choose_contact(roles[:1] + roles[2:], account_id=ACCT) == ("003A", "a@x.example")
    # no contact role with an email: the Account's oldest Contact with one
    oldest = [{"Id": "003D", "Email": "d@x.example", "AccountId": ACCT}]
    assert choose_contact(roles[2:], oldest, ACCT) == ("003D", "d@x.example")
    assert choose_contact((), (), ACCT) is None
    # a Contact of another Account, or linked already: its email, but no link
    other = role("003E", "e@y.example", True, AccountId="001OTHER")
    assert choose_contact([other], account_id=ACCT) == (None, "e@y.example")
    linked = role("003F", "f@x.example", True, Stripe_Customer_Id__c="cus_other")
    assert choose_contact([linked], account_id=ACCT) == (None, "f@x.example")
