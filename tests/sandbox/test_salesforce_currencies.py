"""Multiple currencies in the Salesforce sandbox (the "multi-currency" org feature), over HTTP:
CurrencyIsoCode in describe, SOQL and writes, CurrencyType and who may change it, the refusal of
an inactive or unknown currency, the user's default currency, the SOAP login's userInfo."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox.salesforce_fixtures import SFDX_EXAMPLE

FEATURE = "multi-currency"


@pytest.fixture(scope="module")
def currency_server() -> Iterator[SandboxServer]:
    with run_sandbox(metadata=[SFDX_EXAMPLE], features=[FEATURE]) as server:
        yield server


@pytest.fixture
def sandbox(currency_server: SandboxServer) -> SandboxServer:
    currency_server.reset()
    return currency_server


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return sandbox.salesforce()


def _field(sf: Salesforce, sobject: str, name: str) -> dict[str, Any] | None:
    described = getattr(sf, sobject).describe()
    return next((f for f in described["fields"] if f["name"] == name), None)


def _error(call: Any, *args: Any) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        call(*args)
    return dict(caught.value.content[0])


def _currency_type_id(sf: Salesforce, code: str) -> str:
    [row] = sf.query(f"SELECT Id FROM CurrencyType WHERE IsoCode = '{code}'")["records"]
    return str(row["Id"])


def test_describe_shows_currency_type_and_a_restricted_currency_picklist(sf: Salesforce) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert "CurrencyType" in names
    account = _field(sf, "Account", "CurrencyIsoCode")
    assert account is not None
    shape = (account["label"], account["type"], account["length"])
    assert shape == ("Account Currency", "picklist", 3)
    assert account["restrictedPicklist"] and account["defaultedOnCreate"] and account["nillable"]
    assert not account["permissionable"]  # field-level security does not govern it
    values = {p["value"]: (p["label"], p["defaultValue"]) for p in account["picklistValues"]}
    assert values == {
        "EUR": ("EUR - Euro", False),
        "GBP": ("GBP - British Pound", False),
        "USD": ("USD - U.S. Dollar", True),
    }
    # custom objects (deployed from metadata) carry it too, under the generic label
    payment = _field(sf, "Stripe_Payment__c", "CurrencyIsoCode")
    assert payment is not None and payment["label"] == "Currency ISO Code"
    assert _field(sf, "Contact", "CurrencyIsoCode") is not None
    assert _field(sf, "Opportunity", "CurrencyIsoCode") is not None
    assert _field(sf, "Group", "CurrencyIsoCode") is None  # configuration objects do not
    user_default = _field(sf, "User", "DefaultCurrencyIsoCode")
    assert user_default is not None and user_default["restrictedPicklist"]
    rows = sf.query(
        "SELECT IsoCode, ConversionRate, DecimalPlaces, IsActive, IsCorporate FROM CurrencyType "
        "ORDER BY IsoCode"
    )["records"]
    assert [
        (r["IsoCode"], r["ConversionRate"], r["DecimalPlaces"], r["IsActive"], r["IsCorporate"])
        for r in rows
    ] == [
        ("EUR", 0.92, 2, True, False),
        ("GBP", 0.79, 2, True, False),
        ("JPY", 150.0, 0, False, False),
        ("USD", 1.0, 2, True, True),
    ]


def test_records_carry_a_currency_and_an_inactive_or_unknown_one_is_refused(
    sf: Salesforce,
) -> None:
    default = sf.Account.create({"Name": "Dollar Co"})
    euro = sf.Account.create({"Name": "Euro GmbH", "CurrencyIsoCode": "EUR"})
    assert sf.Account.get(default["id"])["CurrencyIsoCode"] == "USD"  # the corporate one
    rows = sf.query("SELECT Name FROM Account WHERE CurrencyIsoCode = 'EUR'")["records"]
    assert [r["Name"] for r in rows] == ["Euro GmbH"]
    for code in ("JPY", "XYZ"):
        error = _error(sf.Account.create, {"Name": "Yen KK", "CurrencyIsoCode": code})
        assert error == {
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": f"Account Currency: bad value for restricted picklist field: {code}",
            "fields": ["CurrencyIsoCode"],
        }
    error = _error(
        sf.Stripe_Payment__c.create,
        {"Stripe_Charge_Id__c": "ch_1", "Amount__c": 5000, "CurrencyIsoCode": "JPY"},
    )
    assert error["message"] == "Currency ISO Code: bad value for restricted picklist field: JPY"
    # an update that does not name the currency keeps it
    sf.Account.update(euro["id"], {"Name": "Euro AG"})
    assert sf.Account.get(euro["id"])["CurrencyIsoCode"] == "EUR"
    # sObject Collections answer per record, the good one is written
    answer = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Pound Ltd", "CurrencyIsoCode": "GBP"},
                {"attributes": {"type": "Account"}, "Name": "Yen KK", "CurrencyIsoCode": "JPY"},
            ],
        },
    )
    assert answer[0]["success"] and not answer[1]["success"]
    assert answer[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_activating_a_currency_as_an_admin_does_lets_it_in_and_deactivating_keeps_records(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    jpy = _currency_type_id(sf, "JPY")
    sf.CurrencyType.update(jpy, {"IsActive": True})
    created = sf.Stripe_Payment__c.create(
        {"Stripe_Charge_Id__c": "ch_jpy", "Amount__c": 5000, "CurrencyIsoCode": "JPY"}
    )
    payment = sf.Stripe_Payment__c.get(created["id"])
    assert (payment["CurrencyIsoCode"], payment["Amount__c"]) == ("JPY", 5000)
    picklist = _field(sf, "Account", "CurrencyIsoCode")
    assert picklist is not None
    values = [p["value"] for p in picklist["picklistValues"]]
    assert values == ["EUR", "GBP", "JPY", "USD"]
    # a currency Salesforce knows but the org never had: a new CurrencyType
    sf.CurrencyType.create({"IsoCode": "CAD", "ConversionRate": 1.36, "IsActive": True})
    sf.Account.create({"Name": "Maple Inc", "CurrencyIsoCode": "CAD"})
    error = _error(sf.CurrencyType.create, {"IsoCode": "CAD", "ConversionRate": 1.3})
    assert error["errorCode"] == "DUPLICATE_VALUE"
    # deactivated again: new writes refused, the record written before keeps its currency
    sf.CurrencyType.update(jpy, {"IsActive": False})
    assert _error(sf.Account.create, {"Name": "Y", "CurrencyIsoCode": "JPY"})["errorCode"] == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    sf.Stripe_Payment__c.update(created["id"], {"Amount__c": 6000})
    assert sf.Stripe_Payment__c.get(created["id"])["CurrencyIsoCode"] == "JPY"
    # the corporate currency stays active
    usd = _currency_type_id(sf, "USD")
    assert _error(sf.CurrencyType.update, usd, {"IsActive": False})["errorCode"] == (
        "FIELD_INTEGRITY_EXCEPTION"
    )


def test_only_customize_application_changes_currencies_every_user_reads_them(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    integration = sandbox.salesforce(user=sandbox.integration_username)
    rows = integration.query("SELECT IsoCode, IsActive FROM CurrencyType")["records"]
    assert {r["IsoCode"] for r in rows if r["IsActive"]} == {"EUR", "GBP", "USD"}
    with pytest.raises(SalesforceError) as caught:
        integration.CurrencyType.update(_currency_type_id(sf, "JPY"), {"IsActive": True})
    assert caught.value.content[0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"


def test_a_new_record_gets_its_creators_default_currency(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    [admin] = sf.query(
        f"SELECT Id, CurrencyIsoCode, DefaultCurrencyIsoCode FROM User "
        f"WHERE Username = '{sandbox.username}'"
    )["records"]
    assert admin["DefaultCurrencyIsoCode"] == "USD"
    sf.User.update(admin["Id"], {"DefaultCurrencyIsoCode": "GBP"})
    created = sf.Contact.create({"LastName": "Pound"})
    assert sf.Contact.get(created["id"])["CurrencyIsoCode"] == "GBP"
    assert _error(sf.User.update, admin["Id"], {"DefaultCurrencyIsoCode": "JPY"})["fields"] == [
        "DefaultCurrencyIsoCode"
    ]


def _user_info(sandbox: SandboxServer) -> str:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f"<n1:username>{sandbox.username}</n1:username>"
        f"<n1:password>{sandbox.password}{sandbox.security_token}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    )
    with sandbox.http() as http:
        response = http.post(
            sandbox.instance_url + "/services/Soap/u/62.0",
            data=body,
            headers={"Content-Type": "text/xml", "SOAPAction": "login"},
        )
    response.raise_for_status()
    found = re.search(r"<userInfo>(.*)</userInfo>", response.text)
    assert found is not None
    return found.group(1)


def test_soap_login_says_whether_the_org_has_multiple_currencies(sandbox: SandboxServer) -> None:
    info = _user_info(sandbox)
    assert "<organizationMultiCurrency>true</organizationMultiCurrency>" in info
    assert "<userDefaultCurrencyIsoCode>USD</userDefaultCurrencyIsoCode>" in info
    assert '<orgDefaultCurrencyIsoCode xsi:nil="true"/>' in info
    try:
        sandbox.set_features(disable=[FEATURE])
        single = _user_info(sandbox)
        assert "<organizationMultiCurrency>false</organizationMultiCurrency>" in single
        assert "<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>" in single
        assert "<currencySymbol>$</currencySymbol>" in single
    finally:
        sandbox.set_features(enable=[FEATURE])


def test_turning_the_feature_on_gives_existing_records_the_corporate_currency() -> None:
    with run_sandbox(currencies=["EUR", "USD"], corporate_currency="EUR") as sandbox:
        sf = sandbox.salesforce()
        before = sf.Account.create({"Name": "Before"})
        assert _field(sf, "Account", "CurrencyIsoCode") is None
        with pytest.raises(SalesforceMalformedRequest):
            sf.query("SELECT CurrencyIsoCode FROM Account")
        assert sandbox.set_features(enable=[FEATURE]) == [FEATURE]
        assert sf.Account.get(before["id"])["CurrencyIsoCode"] == "EUR"
        corporate = sf.query("SELECT IsoCode FROM CurrencyType WHERE IsCorporate = true")
        assert [r["IsoCode"] for r in corporate["records"]] == ["EUR"]


def test_grouped_aggregates_of_amounts_are_in_the_corporate_currency(sf: Salesforce) -> None:
    """As Salesforce documents it: with GROUP BY, SUM/MAX/... of a currency field answer in
    the corporate currency; each record's own amount stays in its currency."""
    for charge, amount, code in (("ch_u", 92, "USD"), ("ch_e1", 46, "EUR"), ("ch_e2", 46, "EUR")):
        sf.Stripe_Payment__c.create(
            {
                "Stripe_Charge_Id__c": charge,
                "Amount__c": amount,
                "Currency__c": code,
                "CurrencyIsoCode": code,
            }
        )
    rows = sf.query(
        "SELECT Currency__c, SUM(Amount__c) total, MAX(Amount__c) top FROM Stripe_Payment__c "
        "GROUP BY Currency__c ORDER BY Currency__c"
    )["records"]
    # 92 EUR at 0.92 EUR per USD is 100 USD
    assert [(r["Currency__c"], r["total"], r["top"]) for r in rows] == [
        ("EUR", 100.0, 50.0),
        ("USD", 92.0, 92.0),
    ]
    [plain] = sf.query("SELECT SUM(Amount__c) total FROM Stripe_Payment__c")["records"]
    assert plain["total"] == 184  # not grouped: the amounts as stored
    eur = sf.query("SELECT Amount__c FROM Stripe_Payment__c WHERE CurrencyIsoCode = 'EUR'")
    assert [r["Amount__c"] for r in eur["records"]] == [46, 46]


def test_the_control_plane_activates_and_deactivates_currencies(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    assert sandbox.currencies() == ["EUR", "GBP", "USD"]
    assert sandbox.set_currencies(activate=["JPY", "CAD"]) == ["CAD", "EUR", "GBP", "JPY", "USD"]
    sf.Account.create({"Name": "Yen KK", "CurrencyIsoCode": "JPY"})
    assert sandbox.set_currencies(deactivate=["GBP"]) == ["CAD", "EUR", "JPY", "USD"]
    assert _error(sf.Account.create, {"Name": "P", "CurrencyIsoCode": "GBP"})["errorCode"] == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    [cad] = [
        c for c in sandbox.control_call("GET", "currencies")["currencies"] if c["iso_code"] == "CAD"
    ]
    assert cad == {
        "iso_code": "CAD",
        "active": True,
        "corporate": False,
        "conversion_rate": 1.36,
        "decimal_places": 2,
    }
