"""The sandbox's formula subset (pure): compile errors with Salesforce's texts, and values on
records, blank fields as blanks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from salesforce_sandbox.formula import Env, FormulaError, compile_formula, evaluate
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.schema.objects import standard_objects
from salesforce_sandbox.schema.standard import picklist

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def schema() -> Schema:
    out = Schema(standard_objects())
    account = out.get("Account")
    assert account is not None
    account.add(
        FieldDef(
            "Billing_Status__c",
            "picklist",
            "Billing Status",
            custom=True,
            restricted=True,
            picklist=picklist("Current", "Payment Overdue", "At Risk"),
        )
    )
    account.add(FieldDef("MRR__c", "currency", "MRR", custom=True, precision=18, scale=2))
    account.add(FieldDef("Renewal__c", "date", "Renewal", custom=True))
    account.add(FieldDef("Tags__c", "multipicklist", "Tags", custom=True))
    return out


def value(schema: Schema, text: str, record: dict[str, Any], **env: Any) -> Any:
    account = schema.get("Account")
    assert account is not None
    formula = compile_formula(text, account, schema, expect=None)
    return evaluate(formula, Env(record, now=NOW, **env))


def problem(schema: Schema, text: str, sobject: str = "Account") -> str:
    obj = schema.get(sobject)
    assert obj is not None
    with pytest.raises(FormulaError) as raised:
        compile_formula(text, obj, schema)
    return str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AND(", "Syntax error. Missing ')'"),
        ("LEN(Name) > 3)", "Syntax error. Extra ')'"),
        ("AND(TRUE,)", "Syntax error. Extra ','"),
        ("1 +", "Syntax error. Missing an operand"),
        ('Name = "open', "Syntax error. Missing '\"'"),
        ("Name # 1", "Syntax error. Found '#'"),
        ("Nmae = 'x'", "Field Nmae does not exist. Check spelling."),
        ("Parent.Nmae = 'x'", "Field Nmae does not exist. Check spelling."),
        ("Bogus.Name = 'x'", "Field Bogus does not exist. Check spelling."),
        ("ISBLNK(Name)", "Unknown function ISBLNK. Check spelling."),
        (
            "LEN(Name, 2) > 1",
            "Incorrect number of parameters for function 'LEN()'. Expected 1, received 2",
        ),
        (
            "LEN(MRR__c) > 1",
            "Incorrect parameter type for function 'LEN()'. Expected Text, received Number",
        ),
        (
            "ISPICKVAL(Name, 'x')",
            "Incorrect parameter type for function 'ISPICKVAL()'. Expected Picklist, received Text",
        ),
        (
            "Billing_Status__c = 'At Risk'",
            "Field Billing_Status__c is a picklist field. Picklist fields are only supported "
            "in certain functions.",
        ),
        (
            "Name = 1",
            "Incorrect parameter type for operator '='. Expected Text, received Number",
        ),
        (
            "MRR__c && TRUE",
            "Incorrect parameter type for operator '&&'. Expected Boolean, received Number",
        ),
        (
            "Name",
            "Formula result is data type (Text), incompatible with expected data type "
            "(true or false).",
        ),
        (
            "IF(ISBLANK(Name), 1, 'x') = 1",
            "Incorrect parameter type for function 'IF()'. Expected Number, received Text",
        ),
    ],
)
def test_compile_errors_carry_salesforce_texts(schema: Schema, text: str, expected: str) -> None:
    assert problem(schema, text) == expected


def test_picklists_in_the_functions_that_take_them(schema: Schema) -> None:
    record = {"Billing_Status__c": "At Risk", "Name": "Acme"}
    assert value(schema, "ISPICKVAL(Billing_Status__c, 'At Risk')", record) is True
    assert value(schema, "ISPICKVAL(Billing_Status__c, 'at risk')", record) is False
    assert value(schema, "TEXT(Billing_Status__c) & '!'", record) == "At Risk!"
    assert value(schema, "ISBLANK(Billing_Status__c)", {}) is True
    assert value(schema, "CASE(Billing_Status__c, 'Current', 0, 'At Risk', 2, 1)", record) == 2
    assert value(schema, "INCLUDES(Tags__c, 'b')", {"Tags__c": "a;b"}) is True
    assert value(schema, "INCLUDES(Tags__c, 'c')", {"Tags__c": "a;b"}) is False


def test_text_functions_and_blank_text(schema: Schema) -> None:
    record = {"Name": "Acme Corp", "Phone": None}
    assert value(schema, "LEN(Name)", record) == 9
    assert value(schema, "LEN(Phone)", record) == 0
    assert value(schema, "Phone = ''", record) is True  # blank text is the empty string
    assert value(schema, "ISNULL(Phone)", record) is False  # text is never null
    assert value(schema, "ISBLANK(Phone)", record) is True
    assert value(schema, "BEGINS(Name, 'Acme') && CONTAINS(Name, 'Corp')", record) is True
    assert value(schema, "BEGINS(Name, 'acme')", record) is False  # case-sensitive
    assert value(schema, "REGEX(Name, '[A-Z][a-z]+ [A-Z][a-z]+')", record) is True
    assert value(schema, "REGEX(Name, 'Acme')", record) is False  # the whole text must match
    assert value(schema, "UPPER(LEFT(Name, 4)) & LOWER(RIGHT(Name, 5))", record) == "ACME corp"
    assert value(schema, "BLANKVALUE(Phone, 'none')", record) == "none"
    assert value(schema, "Name + '!'", record) == "Acme Corp!"


def test_numbers_dates_and_blank_numbers(schema: Schema) -> None:
    record = {"MRR__c": 12.5, "NumberOfEmployees": 4, "Renewal__c": "2026-03-01"}
    assert value(schema, "MRR__c * 2 + NumberOfEmployees ^ 2 - 1", record) == 40.0
    assert value(schema, "TEXT(MRR__c * 2)", record) == "25"
    assert value(schema, "VALUE('2.5') + 1", record) == 3.5
    assert value(schema, "VALUE('x') > 1", record) is None  # a runtime error is blank
    assert value(schema, "MRR__c / 0 > 1", record) is None
    assert value(schema, "TODAY() - Renewal__c", record) == 9
    assert value(schema, "Renewal__c + 30 > TODAY()", record) is True
    assert value(schema, "TEXT(Renewal__c)", record) == "2026-03-01"
    assert value(schema, "ABS(-MRR__c)", record) == 12.5
    # a blank number makes comparisons blank: the rule neither fires nor passes by it
    assert value(schema, "AnnualRevenue > 100", {}) is None
    assert value(schema, "NOT(AnnualRevenue > 100)", {}) is None
    assert value(schema, "ISNULL(AnnualRevenue)", {}) is True
    assert value(schema, "NULLVALUE(AnnualRevenue, 7) = 7", {}) is True


def test_three_valued_logic_and_if(schema: Schema) -> None:
    assert value(schema, "AND(AnnualRevenue > 1, FALSE)", {}) is False
    assert value(schema, "AND(AnnualRevenue > 1, TRUE)", {}) is None
    assert value(schema, "OR(AnnualRevenue > 1, TRUE)", {}) is True
    assert value(schema, "OR(AnnualRevenue > 1, FALSE)", {}) is None
    assert value(schema, "IF(AnnualRevenue > 1, 'yes', 'no')", {}) == "no"
    assert value(schema, "!(1 = 1) || 2 <> 2 || 3 != 3", {}) is False
    assert value(schema, "1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 == 1", {}) is True


def test_insert_and_update_context(schema: Schema) -> None:
    before = {"Name": "Old", "Billing_Status__c": "Current"}
    after = {"Name": "New", "Billing_Status__c": "At Risk"}
    assert value(schema, "ISNEW()", after) is True
    assert value(schema, "ISNEW()", after, prior=before) is False
    assert value(schema, "ISCHANGED(Name)", after, prior=before) is True
    assert value(schema, "ISCHANGED(Phone)", after, prior=before) is False
    assert value(schema, "ISCHANGED(Name)", after) is False  # nothing changes on insert
    assert value(schema, "PRIORVALUE(Name)", after, prior=before) == "Old"
    assert value(schema, "PRIORVALUE(Name)", after) == "New"
    assert (
        value(
            schema,
            "ISPICKVAL(PRIORVALUE(Billing_Status__c), 'Current')",
            after,
            prior=before,
        )
        is True
    )


def test_parent_fields_through_lookups(schema: Schema) -> None:
    parents = {"001A": {"Name": "Parent Co", "OwnerId": "005A"}, "005A": {"Alias": "ada"}}
    record = {"ParentId": "001A"}
    assert value(schema, "Parent.Name", record, parent=parents.get) == "Parent Co"
    assert value(schema, "Parent.Owner.Alias = 'ada'", record, parent=parents.get) is True
    assert value(schema, "ISBLANK(Parent.Name)", {}, parent=parents.get) is True


def test_comments_and_case_insensitive_names(schema: Schema) -> None:
    account = schema.get("Account")
    assert isinstance(account, ObjectDef)
    formula = compile_formula("/* rule */ isblank(name) || not(len(NAME) > 2)", account, schema)
    assert formula.type == "Boolean"
    assert evaluate(formula, Env({"Name": "Ab"}, now=NOW)) is True
    assert evaluate(formula, Env({"Name": "Abc"}, now=NOW)) is False
