"""Duplicate rules (domain.matching.duplicates): Salesforce's DUPLICATES_DETECTED answers read
back, the decision (link the one free match, else review), and the plan made again with it."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.batch.outcomes import bulk_outcomes, outcomes_for
from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.context import AccountRecord, ContactRecord
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.matching.duplicates import (
    DuplicateReport,
    decide,
    refused_creates,
    report_from_errors,
    seeded,
)
from stripe2sf.domain.operations import Plan
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    contact_row,
    envelope,
    ops_by_id,
)

RULE = "Contact_Name"


def rest_body(sobject: str, ids: list[str], rule: str = RULE) -> list[dict[str, Any]]:
    """DUPLICATES_DETECTED as Salesforce's REST API answers it."""
    return [
        {
            "duplicateResult": {
                "allowSave": True,
                "duplicateRule": rule,
                "duplicateRuleEntityType": sobject,
                "errorMessage": "Use one of these records?",
                "matchResults": [
                    {
                        "entityType": sobject,
                        "errors": [],
                        "matchEngine": "ExactMatchEngine",
                        "matchRecords": [
                            {
                                "additionalInformation": [],
                                "fieldDiffs": [],
                                "matchConfidence": 100.0,
                                "record": {"attributes": {"type": sobject}, "Id": i},
                            }
                            for i in ids
                        ],
                        "rule": f"{rule}_Match",
                        "size": len(ids),
                        "success": True,
                    }
                ],
            },
            "errorCode": "DUPLICATES_DETECTED",
            "message": "Use one of these records?",
        }
    ]


def test_reports_read_from_rest_collections_and_bulk_answers() -> None:
    report = report_from_errors(rest_body("Contact", ["003X", "003Y", "003X"]))
    assert report == DuplicateReport(
        "Contact", "Use one of these records?", (RULE,), (f"{RULE}_Match",), ("003X", "003Y"), True
    )
    assert report.describe() == (
        "duplicate rule Contact_Name matched 003X, 003Y: Use one of these records?"
    )
    collection = [{"statusCode": "DUPLICATES_DETECTED", "message": "Nope", "fields": []}]
    assert report_from_errors(collection) == DuplicateReport("", "Nope")
    assert report_from_errors([{"errorCode": "DUPLICATE_VALUE", "message": "x"}]) is None
    # the executor's readings carry them, with the rule in the error the audit trail keeps
    call = SalesforceCall("record_upsert", "PATCH", "/x", {}, (("contact",),))
    [outcome] = outcomes_for(call, 400, rest_body("Contact", ["003X"])).values()
    assert outcome.code == "DUPLICATES_DETECTED" and outcome.duplicates is not None
    assert outcome.error is not None and "duplicate rule Contact_Name matched 003X" in outcome.error
    bulk = SalesforceCall(
        "bulk_ingest", "POST", "/jobs", {}, (("contact",),), csv_data="Key__c\ncus_1\n"
    )
    failed = '"sf__Id","sf__Error",Key__c\n"","DUPLICATES_DETECTED:Use one:--",cus_1\n'
    [bulk_outcome] = bulk_outcomes(bulk, "", failed).values()
    assert bulk_outcome.duplicates == DuplicateReport("", "Use one")


def _contact(
    con_id: str, customer_id: str | None = None, account_customer: str | None = None
) -> ContactRecord:
    return ContactRecord(con_id, customer_id=customer_id, account_customer_id=account_customer)


def test_decide_links_one_free_match_and_leaves_the_rest_to_a_person() -> None:
    one = DuplicateReport("Contact", "m", (RULE,), (), ("003X",), True)
    linked = decide("cus_1", one, [_contact("003X")], "link")
    assert (linked.kind, linked.record_id) == ("link", "003X")
    assert RULE in linked.reason
    # a 15-character Id in the answer finds the record read with its 18-character one
    assert decide("cus_1", one, [_contact("003X")], "link").kind == "link"
    cases = {
        "review": decide("cus_1", one, [_contact("003X")], "review"),
        "several": decide(
            "cus_1",
            DuplicateReport("Contact", "m", (RULE,), (), ("003X", "003Y"), True),
            [_contact("003X"), _contact("003Y")],
            "link",
        ),
        "other customer": decide("cus_1", one, [_contact("003X", "cus_2")], "link"),
        "other customer's Account": decide("cus_1", one, [_contact("003X", None, "cus_2")], "link"),
        "unreadable": decide("cus_1", one, [], "link"),
        "unnamed": decide("cus_1", DuplicateReport("Contact", "m"), None, "link"),
    }
    assert {k: c.kind for k, c in cases.items()} == dict.fromkeys(cases, "review")
    assert "2 records match" in cases["several"].reason
    assert "belongs to Stripe customer cus_2" in cases["other customer"].reason
    assert "could not be read" in cases["unreadable"].reason
    assert decide("cus_1", one, [_contact("003X", "cus_1")], "link").kind == "link"
    account = decide(
        "cus_1",
        DuplicateReport("Account", "m", ("Account_Name",), (), ("001X",), True),
        [AccountRecord("001X", owner_id="005O")],
        "link",
    )
    assert account.account is not None and account.account.owner_id == "005O"


def replan(
    raw: dict[str, Any],
    org: FakeOrg,
    reports: list[DuplicateReport],
    config: SyncConfig | None = None,
) -> Plan:
    """The event planned again the way the engine does: the reports in an empty context,
    every lookup answered (the matched records read)."""
    cfg = config or SyncConfig()
    view = parse_event(raw)
    org.payload = dict(view.object)
    ctx = seeded(context_for(cfg), reports, "cus_1")
    while needed := lookups_needed(view, cfg, ctx):
        ctx = ctx.with_results({lk: org.answer(lk) for lk in needed})
    return plan(view, ctx, cfg)


CUSTOMER = {"id": "cus_1", "object": "customer", "email": "ada@new.example", "name": "Ada King"}


def test_refused_account_becomes_a_link_and_its_contact_is_created_under_it() -> None:
    org = FakeOrg(stripe={"cus_1": CUSTOMER}, accounts=[account_row("001X", customer_id=None)])
    report = DuplicateReport("Account", "m", ("Account_Name",), (), ("001X",), True)
    ops = ops_by_id(replan(envelope("charge.succeeded", charge()), org, [report]))
    assert (ops["link_account"].action, ops["link_account"].key_value) == ("update", "001X")
    assert ops["link_account"].fields["Stripe_Customer_Id__c"] == "cus_1"
    assert "account" not in ops  # never created
    assert ops["contact"].action == "upsert" and ops["contact"].depends_on == ("link_account",)
    assert ops["payment"].refs["Account__c"].value == "cus_1"


def test_refused_contact_of_a_created_account_links_the_matched_contact() -> None:
    org = FakeOrg(
        stripe={"cus_1": CUSTOMER},
        accounts=[
            account_row("001NEW", customer_id="cus_1"),
            account_row("001B", customer_id=None),
        ],
        contacts=[contact_row("003C", email="ada@old.example", account_id="001B")],
    )
    report = DuplicateReport("Contact", "m", (RULE,), (), ("003C",), True)
    p = replan(envelope("charge.succeeded", charge()), org, [report])
    ops = ops_by_id(p)
    assert (ops["link_contact"].key_field, ops["link_contact"].key_value) == ("Id", "003C")
    assert ops["link_contact"].fields == {"Stripe_Customer_Id__c": "cus_1"}
    assert ops["link_contact"].refs == {}  # it stays under its Account
    assert not [op for op in p.operations if op.sobject == "Contact" and op.action == "upsert"]
    assert ops["payment"].refs["Contact__c"].value == "cus_1"


def test_refused_contact_with_two_matches_is_a_review_task() -> None:
    org = FakeOrg(
        stripe={"cus_1": CUSTOMER},
        accounts=[account_row("001NEW", customer_id="cus_1")],
        contacts=[contact_row("003C", account_id=None), contact_row("003D", account_id=None)],
    )
    report = DuplicateReport("Contact", "m", (RULE,), (), ("003C", "003D"), True)
    p = replan(envelope("charge.succeeded", charge()), org, [report])
    ops = ops_by_id(p)
    assert ops["review"].key_value == "review:cus_1"
    assert "003C, 003D" in ops["review"].fields["Description"]
    assert RULE in ops["review"].fields["Description"]
    assert not [op for op in p.operations if op.sobject == "Contact"]
    assert "Contact__c" not in ops["payment"].refs


def test_refused_account_matching_another_customers_goes_to_review() -> None:
    org = FakeOrg(stripe={"cus_1": CUSTOMER}, accounts=[account_row("001X", customer_id="cus_2")])
    report = DuplicateReport("Account", "m", ("Account_Name",), (), ("001X",), True)
    p = replan(envelope("charge.succeeded", charge()), org, [report])
    assert [op.op_id for op in p.operations] == ["review", "payment"]
    assert "belongs to Stripe customer cus_2" in p.operations[0].fields["Description"]
    cfg = from_toml_text('[matching]\non_duplicate = "review"\n')
    free = FakeOrg(stripe={"cus_1": CUSTOMER}, accounts=[account_row("001X", customer_id=None)])
    p = replan(envelope("charge.succeeded", charge()), free, [report], cfg)
    assert [op.op_id for op in p.operations] == ["review", "payment"]


def test_refused_creates_are_the_customers_own_records_only() -> None:
    org = FakeOrg(stripe={"cus_1": CUSTOMER})
    p = replan(envelope("charge.succeeded", charge()), org, [])
    failed = {
        "account": outcomes_for(
            SalesforceCall("record_upsert", "PATCH", "/x", {}, (("account",),)),
            400,
            rest_body("Account", ["001X"], "Account_Name"),
        )["account"],
        "payment": outcomes_for(
            SalesforceCall("record_upsert", "PATCH", "/x", {}, (("payment",),)),
            400,
            rest_body("Stripe_Payment__c", ["a00X"]),
        )["payment"],
    }
    [refused] = refused_creates(p, failed, "Stripe_Customer_Id__c")
    assert (refused.op.op_id, refused.report.sobject, refused.report.record_ids) == (
        "account",
        "Account",
        ("001X",),
    )


def test_a_graph_refused_by_a_rule_names_it() -> None:
    call = SalesforceCall("graph", "POST", "/g", {}, (("account", "payment"),))
    body = {
        "graphs": [
            {
                "graphId": "g0",
                "isSuccessful": False,
                "graphResponse": {
                    "compositeResponse": [
                        {"httpStatusCode": 400, "body": rest_body("Account", ["001X"], "Acct")}
                    ]
                },
            }
        ]
    }
    outcomes = outcomes_for(call, 200, body)
    assert {o.error for o in outcomes.values()} == {
        "duplicate rule Acct matched 001X: Use one of these records?"
    }
