"""Failures an org's validation rules and required fields cause, told as what they are."""

from __future__ import annotations

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.org_rules import explained, fix_for, message_and_fields, rule_failure
from stripe2sf.domain.batch.results import ExecutionResult
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.domain.operations import Operation

OPS = (
    Operation("account", "upsert", "Account", "Stripe_Customer_Id__c", "cus_1"),
    Operation("payment", "upsert", "Stripe_Payment__c", "Stripe_Charge_Id__c", "ch_1"),
)
RULE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_rest_collections_and_bulk_answers_give_message_and_fields() -> None:
    rest = OpOutcome(False, error="Needs a site (fields: Website)", code=RULE)
    assert message_and_fields(rest) == ("Needs a site", ("Website",))
    top = OpOutcome(False, error="Names start with a capital", code=RULE)
    assert message_and_fields(top) == ("Names start with a capital", ())
    bulk = OpOutcome(False, error=f"{RULE}:Ratio: 2:1 only:A__c,B__c --", code=RULE)
    assert message_and_fields(bulk) == ("Ratio: 2:1 only", ("A__c", "B__c"))


def test_the_first_real_failure_names_the_rule_and_its_object() -> None:
    outcomes = {
        "account": OpOutcome(False, error="Needs a site (fields: Website)", code=RULE),
        "payment": OpOutcome(False, error="rolled back", code="PROCESSING_HALTED"),
    }
    error = ExecutionResult(outcomes=outcomes).error()
    assert error is not None
    told = explained(error, outcomes, OPS)
    assert isinstance(told, PermanentError)
    assert str(told) == "Salesforce validation rule on Account: Needs a site (field Website)"
    assert told.kind == f"salesforce.{RULE}"
    assert fix_for(told.kind) == "Fix the rule or the mapping"


def test_required_fields_and_halted_ones_first() -> None:
    outcomes = {
        "account": OpOutcome(True, "001"),
        "x": OpOutcome(False, error="not sent", code="NOT_ATTEMPTED"),
        "payment": OpOutcome(
            False,
            error="Required fields are missing: [Region__c, Tier__c] (fields: Region__c, Tier__c)",
            code="REQUIRED_FIELD_MISSING",
        ),
    }
    found = rule_failure(outcomes, OPS)
    assert found is not None
    assert found.text() == (
        "Salesforce required field on Stripe_Payment__c: Required fields are missing: "
        "[Region__c, Tier__c] (fields Region__c, Tier__c)"
    )
    assert fix_for("salesforce.REQUIRED_FIELD_MISSING").startswith("Fill the field")


def test_other_failures_stay_as_they_are() -> None:
    other = {"account": OpOutcome(False, error="too long", code="STRING_TOO_LONG")}
    permanent = PermanentError("as it was", kind="salesforce.STRING_TOO_LONG")
    assert explained(permanent, other, OPS) is permanent
    locked = {"account": OpOutcome(False, error="x", code="UNABLE_TO_LOCK_ROW")}
    retryable = RetryableError("later", kind="salesforce.UNABLE_TO_LOCK_ROW")
    assert explained(retryable, locked, OPS) is retryable
    assert fix_for("salesforce.STRING_TOO_LONG") == fix_for(None) == "Fix the cause"
