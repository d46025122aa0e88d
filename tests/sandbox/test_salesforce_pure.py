"""Pure parts of the Salesforce sandbox, without a server: ids, SOQL, validation, metadata."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from salesforce_sandbox import ids
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.records import Records, StoreSource
from salesforce_sandbox.models.store import Store
from salesforce_sandbox.schema import sfdx
from salesforce_sandbox.schema.model import Schema
from salesforce_sandbox.schema.objects import standard_objects
from salesforce_sandbox.soql import bind, execute, parse
from salesforce_sandbox.soql.dates import date_range
from salesforce_sandbox.validation import coerce_payload, missing_required
from tests.sandbox.salesforce_fixtures import SFDX_EXAMPLE


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001D000000IRFma", "001D000000IRFmaIAH"),
        ("a0RE000000IJmcN", "a0RE000000IJmcNMAT"),
        ("001M000000qfPyS", "001M000000qfPySIAU"),
        ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
        ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
        ("aBcDEfgHIJKLMNO", "aBcDEfgHIJKLMNO025"),
    ],
)
def test_case_safe_suffix(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.normalize(id15) == id18
    assert ids.looks_like_id(id18)


def test_id_generation_and_prefixes() -> None:
    generator = ids.IdGenerator()
    first, second = generator.new("001"), generator.new("001")
    assert first == "001000000000001AAA" and second == "001000000000002AAA"
    assert ids.counter_of(second) == 2
    assert ids.custom_prefix(0) == "a00" and ids.custom_prefix(61) == "a0z"
    assert ids.normalize("not-an-id") is None
    assert ids.normalize("001000000000001AAB") is None  # wrong checksum suffix


def _schema() -> Schema:
    schema = Schema(standard_objects())
    sfdx.apply(schema, sfdx.read_dir(SFDX_EXAMPLE), 0)
    return schema


def _source(schema: Schema, records: list[dict[str, Any]]) -> StoreSource:
    """The real store (in-memory SQLite) holding ``records``."""
    store = Store(None)
    dml = Records(store, lambda: schema, "005000000000001AAA")
    with store.transaction():
        for record in records:
            obj = schema.of_id(record["Id"])
            assert obj is not None
            dml.create(
                obj,
                {k: v for k, v in record.items() if k != "Name" or obj.name != "User"},
                system=True,
            )
    return StoreSource(store)


def _run(soql: str, records: list[dict[str, Any]], today: dt.date | None = None) -> Any:
    schema = _schema()
    return execute(bind(parse(soql), schema, today), _source(schema, records), schema)


USER = {
    "Id": "005000000000001AAA",
    "Username": "admin@x.io",
    "FirstName": "Admin",
    "LastName": "User",
    "Email": "admin@x.io",
    "Alias": "admin",
}
ACME = {
    "Id": "001000000000001AAA",
    "Name": "Acme",
    "OwnerId": USER["Id"],
    "AnnualRevenue": 10.0,
    "CreatedDate": "2024-03-15T10:00:00.000+0000",
    "Stripe_Customer_Id__c": "cus_1",
}
GLOBEX = {
    "Id": "001000000000002AAA",
    "Name": "Globex",
    "OwnerId": USER["Id"],
    "CreatedDate": "2024-02-01T00:00:00.000+0000",
}
PEOPLE = [
    {"Id": "003000000000001AAA", "LastName": "Smith", "AccountId": ACME["Id"], "Email": "A@x.io"},
    {"Id": "003000000000002AAA", "LastName": "Jones", "Email": None},
]
ALL = [USER, ACME, GLOBEX, *PEOPLE]


def test_soql_filters_and_ordering() -> None:
    def names(soql: str) -> list[str]:
        return [r["Name"] for r in _run(soql, ALL).records]

    assert names("SELECT Name FROM Account ORDER BY Name DESC") == ["Globex", "Acme"]
    assert names("SELECT Name FROM Account WHERE AnnualRevenue >= 10") == ["Acme"]
    assert names("SELECT Name FROM Account WHERE AnnualRevenue != 10") == ["Globex"]
    assert names("SELECT Name FROM Account WHERE Name LIKE '%EX'") == ["Globex"]
    assert names("SELECT Name FROM Account WHERE Stripe_Customer_Id__c IN ('CUS_1')") == ["Acme"]
    assert names("SELECT Name FROM Account WHERE Id = '001000000000002'") == ["Globex"]
    assert names("SELECT Name FROM Account WHERE NOT (Name = 'Acme' OR Name = 'Nobody')") == [
        "Globex"
    ]
    assert names("SELECT Name FROM Account ORDER BY AnnualRevenue NULLS LAST, Name") == [
        "Acme",
        "Globex",
    ]
    rows = _run(
        "SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:20", ALL, dt.date(2024, 3, 20)
    )
    assert [r["Name"] for r in rows.records] == ["Acme"]
    rows = _run("SELECT Name FROM Account WHERE CreatedDate < 2024-03-01", ALL)
    assert [r["Name"] for r in rows.records] == ["Globex"]


def test_soql_relationships_and_count() -> None:
    result = _run(
        "SELECT LastName, Account.Name, Account.Owner.Name FROM Contact ORDER BY LastName", ALL
    )
    jones, smith = result.records
    assert jones["Account"] is None
    assert smith["Account"]["Name"] == "Acme"
    assert smith["Account"]["Owner"]["Name"] == "Admin User"
    assert smith["Account"]["attributes"]["type"] == "Account"
    count = _run("SELECT COUNT() FROM Contact WHERE Email = 'a@X.io'", ALL)
    assert count.total_size == 1 and count.records == []
    emailed = _run(
        "SELECT LastName FROM Contact WHERE Account.Name = 'Acme' AND Email != null", ALL
    )
    assert [r["LastName"] for r in emailed.records] == ["Smith"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY"),
        ("SELECT Id FORM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' LIMIT", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Bogus FROM Account", "INVALID_FIELD"),
        ("SELECT Owner.Bogus FROM Account", "INVALID_FIELD"),
        ("SELECT Nope.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE AnnualRevenue = '10'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Id = 'xyz'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_soql_errors(soql: str, code: str) -> None:
    with pytest.raises(SalesforceError) as caught:
        bind(parse(soql), _schema())
    assert caught.value.code == code


def test_soql_escapes_like_simple_salesforce_format_soql() -> None:
    from simple_salesforce.format import format_soql

    soql = format_soql(
        "SELECT Id FROM Account WHERE Name = {} AND Id IN {}", "O'Hara \\ Co", ["a", "b"]
    )
    query = parse(soql)
    assert query.where is not None
    records = [{"Id": "001000000000009AAA", "Name": "O'Hara \\ Co"}]
    named = format_soql("SELECT Name FROM Account WHERE Name = {}", "O'Hara \\ Co")
    assert [r["Name"] for r in _run(named, records).records] == ["O'Hara \\ Co"]


def test_date_literals() -> None:
    today = dt.date(2024, 5, 15)  # a Wednesday
    assert date_range("TODAY", None, today) == (today, dt.date(2024, 5, 16))
    assert date_range("THIS_WEEK", None, today) == (dt.date(2024, 5, 12), dt.date(2024, 5, 19))
    assert date_range("LAST_MONTH", None, today) == (dt.date(2024, 4, 1), dt.date(2024, 5, 1))
    assert date_range("THIS_QUARTER", None, today) == (dt.date(2024, 4, 1), dt.date(2024, 7, 1))
    assert date_range("N_DAYS_AGO", 3, today) == (dt.date(2024, 5, 12), dt.date(2024, 5, 13))
    assert date_range("NEXT_N_MONTHS", 2, today) == (dt.date(2024, 6, 1), dt.date(2024, 8, 1))
    assert date_range("NOT_A_LITERAL", None, today) is None


def test_validation_coerces_and_reports() -> None:
    schema = _schema()
    payment = schema.get("stripe_payment__c")
    assert payment is not None and payment.key_prefix.startswith("a0")
    values, refs = coerce_payload(
        payment,
        {
            "Amount__c": "12.345",
            "Refunded__c": "TRUE",
            "Paid_At__c": "2024-01-01T01:00:00+01:00",
            "Account__r": {"Stripe_Customer_Id__c": "cus_1"},
        },
        "create",
        source="csv",
    )
    assert values == {
        "Amount__c": 12.35,
        "Refunded__c": True,
        "Paid_At__c": "2024-01-01T00:00:00.000+0000",
    }
    assert refs[0].target == "Account" and refs[0].value == "cus_1"
    error = missing_required(payment, values)
    assert error is not None and error.fields == ["Stripe_Charge_Id__c"]
    account = schema.get("Account")
    assert account is not None
    canonical, _ = coerce_payload(account, {"Subscription_Status__c": "past due"}, "create")
    assert canonical == {"Subscription_Status__c": "Past Due"}
    for payload, code in [
        ({"Subscription_Status__c": "Gone"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Name": "x" * 256}, "STRING_TOO_LONG"),
        ({"NumberOfEmployees": 1.5}, "JSON_PARSER_ERROR"),
        ({"ParentId": "nope"}, "MALFORMED_ID"),
        ({"Bogus__c": 1}, "INVALID_FIELD"),
        ({"CreatedById": "005000000000001AAA"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ]:
        with pytest.raises(SalesforceError) as caught:
            coerce_payload(account, payload, "create")
        assert caught.value.code == code


def test_sfdx_metadata_parsing() -> None:
    bundle = sfdx.read_dir(SFDX_EXAMPLE)
    assert [o.name for o in bundle.objects] == ["Stripe_Payment__c"]
    fields = {f"{obj}.{f.name}": f for obj, f in bundle.fields}
    ext = fields["Account.Stripe_Customer_Id__c"]
    assert ext.external_id and ext.unique and ext.type == "string" and ext.length == 255
    status = fields["Account.Subscription_Status__c"]
    assert status.restricted and [p.value for p in status.picklist][-1] == "Paused"
    lookup = fields["Stripe_Payment__c.Account__c"]
    assert lookup.reference_to == ["Account"] and lookup.relationship_name == "Account__r"
    assert lookup.child_relationship == "Stripe_Payments__r"
    assert fields["Stripe_Payment__c.Amount__c"].type == "currency"
    assert fields["Stripe_Payment__c.Notes__c"].type == "textarea"
    schema = _schema()
    task = schema.get("Task")
    assert task is not None and task.field("Stripe_Dedupe_Key__c") is not None
    with pytest.raises(SalesforceError) as caught:
        sfdx.parse_field(
            "X", "<CustomField><fullName>A__c</fullName><type>Geolocation</type></CustomField>"
        )
    assert caught.value.code == "INVALID_METADATA"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id, Name FROM Account WHERE Name LIKE 'A%' AND Stripe_Customer_Id__c IN ('a', 'b') "
        "AND IsDeleted = false AND ParentId = null ORDER BY CreatedDate DESC LIMIT 10 OFFSET 5",
        "SELECT count() FROM Account",
        "SELECT Id FROM Account WHERE (NOT Name LIKE 'x') FOR VIEW",
        "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, "
        "OrganizationType FROM Organization",
        "SELECT Id FROM Contact WHERE Email = 'a@b.c' AND CreatedDate > 2024-01-01T00:00:00+00:00",
        "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact) WITH SECURITY_ENFORCED",
        "SELECT MAX(AnnualRevenue) top, MIN(CreatedDate) FROM Account GROUP BY Industry",
    ],
)
def test_soql_the_clients_generate(soql: str) -> None:
    bound = bind(parse(soql), _schema())
    assert bound.obj.name in ("Account", "Organization", "Contact")


def test_scratch_org_probe_is_invalid_type() -> None:
    with pytest.raises(SalesforceError) as caught:
        bind(parse("SELECT Id FROM ScratchOrgInfo limit 1"), _schema())
    assert caught.value.code == "INVALID_TYPE"
    assert "sObject type 'ScratchOrgInfo' is not supported" in caught.value.message


def test_semi_join_and_aggregates() -> None:
    result = _run("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", ALL)
    assert [r["Name"] for r in result.records] == ["Acme"]
    grouped = _run("SELECT COUNT(Id) n, MAX(AnnualRevenue) FROM Account", ALL)
    assert grouped.records[0]["n"] == 2 and grouped.records[0]["expr0"] == 10.0
