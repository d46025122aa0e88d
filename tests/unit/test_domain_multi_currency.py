"""Org multi-currency, pure: what the planner writes as CurrencyIsoCode, the [org] setting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.results import ExecutionResult
from stripe2sf.domain.config import ConfigError, from_toml_text
from stripe2sf.domain.errors import PermanentError
from stripe2sf.domain.reconcile.drift import diff, soql_queries
from stripe2sf.domain.setup.access import integration_access
from stripe2sf.domain.setup.currencies import currency_check, stripe_currencies
from stripe2sf.domain.setup.mapping_doc import mapping_rows
from stripe2sf.domain.setup.needs import needs
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    envelope,
    ops_by_id,
    run,
    subscription,
)
from tests.unit.test_reconcile_diff import sf_side, stripe_side

MULTI = from_toml_text("[org]\nmulti_currency = true\n")


@pytest.mark.parametrize(
    ("currency", "amount", "major"),
    [("usd", 2_500, Decimal("25.00")), ("eur", 1_999, Decimal("19.99")), ("jpy", 5_000, 5_000)],
)
def test_a_payment_carries_its_charge_currency_in_a_multi_currency_org(
    currency: str, amount: int, major: Decimal
) -> None:
    org = FakeOrg(accounts=[account_row()])
    p = run(envelope("charge.succeeded", charge(amount=amount, currency=currency)), org, MULTI)
    fields = ops_by_id(p)["payment"].fields
    assert fields["CurrencyIsoCode"] == currency.upper()
    assert fields["Currency__c"] == currency.upper()
    assert fields["Amount__c"] == major
    # a refund is in the charge's currency too: the same record, the same CurrencyIsoCode
    refunded = charge(amount=amount, currency=currency, amount_refunded=amount, refunded=True)
    p = run(envelope("charge.refunded", refunded), org, MULTI)
    assert ops_by_id(p)["payment"].fields["CurrencyIsoCode"] == currency.upper()


def test_a_single_currency_org_gets_no_currency_iso_code() -> None:
    org = FakeOrg(accounts=[account_row()])
    for config in (None, from_toml_text("[org]\nmulti_currency = false\n")):
        p = run(envelope("charge.succeeded", charge(currency="eur")), org, config)
        assert "CurrencyIsoCode" not in ops_by_id(p)["payment"].fields
    # "auto" before the org was read counts as a single currency
    assert from_toml_text("").org.multi_currency == "auto"
    assert not from_toml_text("").multi_currency


def test_the_account_mrr_carries_the_subscription_currency() -> None:
    org = FakeOrg(
        stripe={"prod_1": {"id": "prod_1", "object": "product", "name": "Pro"}},
        accounts=[account_row()],
    )
    sub = subscription(currency="eur")
    org.stripe["sub_1"] = sub
    p = run(envelope("customer.subscription.created", sub), org, MULTI)
    [account] = [op for op in p.operations if op.sobject == "Account"]
    assert account.fields["MRR__c"] == Decimal("100.00")
    assert account.fields["CurrencyIsoCode"] == "EUR"
    # an admin who keeps the Account's currency to Salesforce: stripe2sf leaves it alone
    kept = from_toml_text(
        '[org]\nmulti_currency = true\n[ownership]\n"Account.CurrencyIsoCode" = "salesforce"\n'
    )
    p = run(envelope("customer.subscription.created", sub), org, kept)
    [account] = [op for op in p.operations if op.sobject == "Account"]
    assert "CurrencyIsoCode" not in account.fields and "MRR__c" in account.fields


def test_records_without_amounts_get_no_currency() -> None:
    """The customer's Account and Contact carry no amount: the org's default applies."""
    org = FakeOrg(stripe={"cus_1": {"id": "cus_1", "object": "customer", "email": "a@b.example"}})
    p = run(envelope("charge.succeeded", charge(currency="eur")), org, MULTI)
    ops = ops_by_id(p)
    assert ops["payment"].fields["CurrencyIsoCode"] == "EUR"
    assert all("CurrencyIsoCode" not in op.fields for k, op in ops.items() if k != "payment")


def test_an_explicit_mapping_to_currency_iso_code_is_kept() -> None:
    config = from_toml_text(
        "[org]\nmulti_currency = true\n[[mappings]]\n"
        'source = "charge.metadata.booked_in"\ntarget = "Stripe_Payment__c.CurrencyIsoCode"\n'
    )
    org = FakeOrg(accounts=[account_row()])
    booked = charge(currency="eur", metadata={"booked_in": "USD"})
    p = run(envelope("charge.succeeded", booked), org, config)
    assert ops_by_id(p)["payment"].fields["CurrencyIsoCode"] == "USD"


def test_the_org_setting_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"org\.multi_currency"):
        from_toml_text('[org]\nmulti_currency = "sometimes"\n')
    with pytest.raises(ConfigError, match=r"org\.currencies: unknown setting"):
        from_toml_text("[org]\ncurrencies = 2\n")


def test_a_refused_currency_dead_letters_naming_the_currency_to_activate() -> None:
    refused = OpOutcome(
        False,
        error="Currency ISO Code: bad value for restricted picklist field: JPY "
        "(fields: CurrencyIsoCode)",
        code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    )
    error = ExecutionResult(outcomes={"account": OpOutcome(True, "001A"), "payment": refused})
    failure = error.error()
    assert isinstance(failure, PermanentError)
    text = str(failure)
    assert "JPY is not an active currency of the Salesforce org" in text
    assert "Manage Currencies" in text and "stripe2sf replay --dead-letters" in text
    # another restricted picklist is not a currency: no currency advice
    other = OpOutcome(
        False,
        error="Status: bad value for restricted picklist field: Lost (fields: Status__c)",
        code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    )
    assert "To fix" not in str(ExecutionResult(outcomes={"payment": other}).error())
    # a forced multi_currency = true against a single-currency org
    missing = OpOutcome(
        False,
        error="No such column 'CurrencyIsoCode' on sobject of type Stripe_Payment__c",
        code="INVALID_FIELD",
    )
    assert 'multi_currency = true: set it to "auto"' in str(
        ExecutionResult(outcomes={"payment": missing}).error()
    )


def test_reconcile_compares_the_record_currency_only_in_a_multi_currency_org() -> None:
    assert "CurrencyIsoCode" in soql_queries(MULTI)["payments"]
    assert "CurrencyIsoCode" not in soql_queries(from_toml_text(""))["payments"]
    rows = [dict(p) for p in sf_side().payments]
    for row in rows:
        row["CurrencyIsoCode"] = row["Currency__c"]
    in_step = diff(stripe_side(), sf_side(payments=rows), MULTI)
    assert in_step.clean, in_step.to_csv()
    # a payment written before the org had multiple currencies: the corporate currency
    rows[1]["CurrencyIsoCode"] = "USD"  # ch_2 is 500 JPY
    report = diff(stripe_side(), sf_side(payments=rows), MULTI)
    [item] = report.drift
    assert (item.kind, item.stripe_id, item.expected, item.actual) == (
        "payment_mismatch",
        "ch_2",
        "CurrencyIsoCode JPY",
        "CurrencyIsoCode USD",
    )
    assert item.fixable and item.fix_object == "charges:ch_2"
    # a single-currency org reads no CurrencyIsoCode and finds nothing to say
    assert diff(stripe_side(), sf_side(payments=rows), from_toml_text("")).clean


CURRENCY_TYPES = [
    {"IsoCode": "USD", "IsActive": True, "IsCorporate": True},
    {"IsoCode": "EUR", "IsActive": True, "IsCorporate": False},
    {"IsoCode": "JPY", "IsActive": False, "IsCorporate": False},
]


def test_doctor_names_the_stripe_currencies_the_org_has_not_activated() -> None:
    used = stripe_currencies([{"currency": "eur"}, {"currency": "jpy"}, {"id": "x"}])
    assert used == {"EUR", "JPY"}
    check = currency_check(from_toml_text(""), True, CURRENCY_TYPES, used)
    assert not check.ok
    assert "JPY not active" in check.detail and "corporate USD" in check.detail
    assert "activate JPY in Setup > Company Settings > Manage Currencies" in check.fix
    assert currency_check(from_toml_text(""), True, CURRENCY_TYPES, {"EUR", "USD"}).ok


def test_doctor_on_a_single_currency_org() -> None:
    forced = currency_check(MULTI, False, None, {"EUR"})
    assert not forced.ok and 'multi_currency = "auto"' in forced.fix
    several = currency_check(from_toml_text(""), False, None, {"EUR", "USD"})
    assert several.ok and "read in the org's currency" in several.detail


def test_the_currency_is_checked_by_doctor_but_never_granted_by_a_permission_set() -> None:
    written = {(n.sobject, n.field) for n in needs(MULTI) if n.field and "edit" in n.rights}
    assert {("Stripe_Payment__c", "CurrencyIsoCode"), ("Account", "CurrencyIsoCode")} <= written
    assert not any(n.field == "CurrencyIsoCode" for n in needs(from_toml_text("")))
    # field-level security does not govern it: no permission set lists it
    assert not any("CurrencyIsoCode" in name for name in integration_access(MULTI).fields)


def test_the_mapping_document_names_the_currency_stripe2sf_writes() -> None:
    rows = {r.salesforce_field: r for r in mapping_rows(from_toml_text(""))}
    assert rows["Stripe_Payment__c.CurrencyIsoCode"].owner == "stripe"
    assert "multiple currencies only" in rows["Account.CurrencyIsoCode"].note
    single = from_toml_text("[org]\nmulti_currency = false\n")
    assert not any("CurrencyIsoCode" in r.salesforce_field for r in mapping_rows(single))
