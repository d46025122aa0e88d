"""Values too long for their Salesforce field, and required fields the card guard removes:
the record is still written (cut text, a refused field, a safe substitute), never a whole
customer blocked, and the plan's refusals (hence the audit trail) say what and why."""

from __future__ import annotations

from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.flows.cardguard import REDACTED, safe_substitute, scan_fields
from stripe2sf.domain.setup.schema import FieldLimit, field_limits, fit_lengths
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    customer,
    envelope,
    ops_by_id,
    run,
)

LONG_EMAIL = "a" * 88 + "@example.com"  # 100 characters: valid in Stripe, Contact.Email holds 80


def test_an_email_longer_than_its_field_is_refused_and_the_contact_still_created() -> None:
    p = run(envelope("customer.created", customer(email=LONG_EMAIL, name="Lou Long")))
    ops = ops_by_id(p)
    contact = ops["contact"]
    assert "Email" not in contact.fields and contact.fields["LastName"] == "Long"
    assert ops["account"].fields["Name"] == "Lou Long"
    [refusal] = p.refusals
    assert (refusal.sobject, refusal.field, refusal.external_id) == ("Contact", "Email", "cus_1")
    assert "100 characters" in refusal.reason and "80" in refusal.reason
    assert LONG_EMAIL not in refusal.value  # the audit trail gets the length, not the address


def test_text_too_long_is_cut_to_the_field() -> None:
    name = "Ada " + "L" * 300
    p = run(envelope("customer.created", customer(name=name)))
    ops = ops_by_id(p)
    assert len(ops["account"].fields["Name"]) == 255
    assert ops["account"].fields["Name"].startswith("Ada LLL")
    assert ops["account"].fields["Name"].endswith("\u2026")
    assert len(ops["contact"].fields["LastName"]) == 80
    assert p.refusals == ()
    assert any("Account.Name cut to its 255 characters" in n for n in p.notes)


def test_a_custom_text_field_from_metadata_is_cut_at_255() -> None:
    cfg = from_toml_text(
        '[[mappings]]\nsource = "charge.metadata.note"\ntarget = "Stripe_Payment__c.Note__c"\n'
    )
    org = FakeOrg(accounts=[account_row()])
    p = run(envelope("charge.succeeded", charge(metadata={"note": "x" * 500})), org, cfg)
    assert len(p.operations[0].fields["Note__c"]) == 255


def test_limits_come_from_the_standard_table_and_the_generated_metadata() -> None:
    limits = field_limits(SyncConfig())
    assert limits[("Contact", "Email")] == FieldLimit(80, "email")
    assert limits[("Contact", "FirstName")].length == 40
    assert limits[("Task", "Subject")].length == 255
    assert limits[("Stripe_Payment__c", "Failure_Message__c")] == FieldLimit(255, "text")
    assert limits[("Account", "Stripe_Customer_Id__c")].kind == "id"  # never cut a key


def test_fit_lengths_leaves_fitting_and_non_text_values_alone() -> None:
    limits = {("X", "A"): FieldLimit(3), ("X", "U"): FieldLimit(5, "url")}
    fields, refused, notes = fit_lengths("X", {"A": "abc", "N": 12345, "U": "http://x"}, limits)
    assert fields == {"A": "abc", "N": 12345}
    assert [r.field for r in refused] == ["U"] and not notes


def test_card_number_in_the_name_gives_a_redacted_account_name_not_a_dead_letter() -> None:
    p = run(envelope("customer.created", customer(name="Pat 4242 4242 4242 4242 Payer")))
    ops = ops_by_id(p)
    assert ops["account"].fields["Name"] == f"Pat {REDACTED} Payer"
    assert "4242 4242" not in p.to_json()
    [refusal] = [r for r in p.refusals if r.sobject == "Account"]
    assert refusal.field == "Name"
    assert "card guard" in refusal.reason and "required" in refusal.reason


def test_a_name_that_is_only_a_card_number_becomes_the_customer_id() -> None:
    p = run(envelope("customer.created", customer(name="4242424242424242")))
    ops = ops_by_id(p)
    assert ops["account"].fields["Name"] == "cus_1"
    assert ops["contact"].fields["LastName"] == "cus_1"
    assert {(r.sobject, r.field) for r in p.refusals} == {
        ("Account", "Name"),
        ("Contact", "LastName"),
    }


def test_an_optional_field_with_a_card_number_is_still_just_removed() -> None:
    clean, refused = scan_fields(
        "Contact", {"FirstName": "4242 4242 4242 4242"}, "cus_1", required=("LastName",)
    )
    assert clean == {} and refused[0].field == "FirstName"


def test_safe_substitute_never_returns_a_card_number() -> None:
    assert safe_substitute("4242-4242-4242-4242", "cus_1") == "cus_1"
    assert safe_substitute("4242-4242-4242-4242", None) == REDACTED
    assert safe_substitute("Ada 4242424242424242", "cus_1") == f"Ada {REDACTED}"


def test_a_blank_name_gives_no_blank_required_field() -> None:
    p = run(envelope("customer.created", customer(name="   ", email="bo@example.com")))
    ops = ops_by_id(p)
    assert ops["account"].fields["Name"] == "bo@example.com"
    assert ops["contact"].fields["LastName"] == "bo"
