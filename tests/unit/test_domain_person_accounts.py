"""Person accounts in the planner and the set-up (pure): one Account write per new customer,
matching by the person contact's email, the org's answer deciding the model, the permission
set and doctor."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.matching.duplicates import DuplicateReport, seeded
from stripe2sf.domain.matching.person import person_account_values, person_field
from stripe2sf.domain.operations import RecordRef
from stripe2sf.domain.org_profile import (
    describes_needed,
    person_account_problem,
    person_record_type_id,
    resolved,
)
from stripe2sf.domain.setup.account_model import account_model_check
from stripe2sf.domain.setup.metadata import generate_metadata
from stripe2sf.domain.setup.needs import integration_grants, needs
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    contact_row,
    customer,
    envelope,
    ops_by_id,
    run,
)

PERSON_RT = "012000000000001AAA"
PERSON = from_toml_text(f'[org]\naccount_model = "person"\nperson_record_type_id = "{PERSON_RT}"\n')


def _describe(*, person: bool = True, available: bool = True) -> dict[str, Any]:
    fields = [{"name": "Id"}, {"name": "Name"}] + ([{"name": "IsPersonAccount"}] if person else [])
    infos = [
        {"developerName": "Business_Account", "recordTypeId": "012B", "available": True},
        {"developerName": "PersonAccount", "recordTypeId": PERSON_RT, "available": available},
    ]
    return {"fields": fields, "recordTypeInfos": infos if person else []}


def test_a_new_customer_becomes_one_person_account() -> None:
    org = FakeOrg(stripe={"cus_1": customer()})
    p = run(envelope("charge.succeeded", charge()), org, PERSON)
    ops = ops_by_id(p)
    assert "contact" not in ops  # its person contact comes with the account
    account = ops["account"]
    assert (account.sobject, account.action, account.key_field, account.key_value) == (
        "Account",
        "upsert",
        "Stripe_Customer_Id__c",
        "cus_1",
    )
    assert "Name" not in account.fields  # Salesforce derives it: setting it is refused
    assert account.fields["RecordTypeId"] == PERSON_RT
    assert (account.fields["FirstName"], account.fields["LastName"]) == ("Ada", "Lovelace")
    assert account.fields["PersonEmail"] == "Ada@Example.com"
    assert account.fields["Stripe_Customer_Id__pc"] == "cus_1"
    payment = next(op for op in p.operations if op.sobject == "Stripe_Payment__c")
    assert payment.refs["Account__c"] == RecordRef("Account", "Stripe_Customer_Id__c", "cus_1")
    # the person contact carries the customer id: the payment names it by that
    assert payment.refs["Contact__c"] == RecordRef("Contact", "Stripe_Customer_Id__c", "cus_1")


def test_business_accounts_are_unchanged() -> None:
    ops = ops_by_id(
        run(envelope("charge.succeeded", charge()), FakeOrg(stripe={"cus_1": customer()}))
    )
    assert ops["account"].fields["Name"] == "Ada Lovelace"
    assert "RecordTypeId" not in ops["account"].fields
    assert ops["contact"].fields["Email"] == "Ada@Example.com"


def test_an_existing_person_account_is_found_by_its_email_and_linked() -> None:
    """Its PersonEmail is its person contact's Email: the Contact search finds it."""
    person_contact = contact_row("003P", email="ada@example.com", account_id="001P")
    org = FakeOrg(
        stripe={"cus_1": customer()},
        accounts=[account_row("001P", customer_id=None, IsPersonAccount=True)],
        contacts=[person_contact],
    )
    p = run(envelope("charge.succeeded", charge()), org, PERSON)
    ops = ops_by_id(p)
    assert "account" not in ops and "contact" not in ops  # nothing created
    assert (ops["link_account"].key_value, ops["link_contact"].key_value) == ("001P", "003P")
    assert ops["link_account"].fields["Stripe_Customer_Id__c"] == "cus_1"
    assert ops["link_contact"].fields["Stripe_Customer_Id__c"] == "cus_1"


def test_a_person_account_linked_by_hand_links_its_person_contact() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer()},
        accounts=[account_row("001P", IsPersonAccount=True, PersonContactId="003P")],
    )
    ops = ops_by_id(run(envelope("customer.updated", customer()), org, PERSON))
    link = ops["link_contact"]
    assert (link.sobject, link.action, link.key_value) == ("Contact", "update", "003P")
    assert link.fields["Stripe_Customer_Id__c"] == "cus_1"
    assert "contact" not in ops  # no Contact created under a person account


def test_a_shared_email_gets_a_person_account_without_it() -> None:
    other = contact_row("003O", email="ada@example.com", account_id="001O", customer_id="cus_0")
    org = FakeOrg(
        stripe={"cus_1": customer()}, contacts=[other], claims={"ada@example.com": "cus_0"}
    )
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org, PERSON))
    assert "PersonEmail" not in ops["account"].fields
    assert ops["account"].fields["RecordTypeId"] == PERSON_RT
    assert ops["review"].sobject == "Task"


def test_person_account_values_translate_contact_fields() -> None:
    values = person_account_values(
        {"Name": "Ada", "Card_Last4__c": "4242"},
        {"Email": "a@b.example", "FirstName": "Ada", "Phone": "+1", "Note__c": "x", "AccountId": 1},
        record_type_id="012P",
        customer_field="Stripe_Customer_Id__c",
        customer_id="cus_1",
        last_name="Fallback",
    )
    assert values == {
        "Card_Last4__c": "4242",
        "PersonEmail": "a@b.example",
        "FirstName": "Ada",
        "Phone": "+1",
        "Note__pc": "x",
        "LastName": "Fallback",
        "RecordTypeId": "012P",
        "Stripe_Customer_Id__pc": "cus_1",
    }
    assert person_field("MailingCity") == "PersonMailingCity" and person_field("AccountId") is None


def test_the_org_decides_the_account_model() -> None:
    auto = SyncConfig()
    assert "Account" in describes_needed(auto)
    person = resolved(auto, {"Account": _describe()})
    assert person.person_accounts and person.org.person_record_type_id == PERSON_RT
    business = resolved(auto, {"Account": _describe(person=False)})
    assert business.org.account_model == "business" and not business.person_accounts
    # a person org whose record type the user may not use: business accounts, said by doctor
    unusable = resolved(auto, {"Account": _describe(available=False)})
    assert unusable.org.account_model == "business"
    assert person_record_type_id(_describe(available=False), "PersonAccount") is None
    forced = from_toml_text('[org]\naccount_model = "person"\n')
    stuck = resolved(forced, {"Account": _describe(available=False)})
    problem = person_account_problem(stuck)
    assert problem is not None and "not available" in problem and "person_record_type" in problem
    assert "Account" not in describes_needed(PERSON)  # its record type is configured


def test_doctor_says_which_model_and_what_to_fix() -> None:
    auto = SyncConfig()
    ok = account_model_check(auto, resolved(auto, {"Account": _describe()}), _describe())
    assert ok.ok and "person accounts" in ok.detail and PERSON_RT in ok.detail
    unusable = _describe(available=False)
    failed = account_model_check(auto, resolved(auto, {"Account": unusable}), unusable)
    assert not failed.ok and "business accounts" in failed.detail
    assert 'account_model = "person"' in failed.fix and "stripe2sf metadata" in failed.fix
    forced = from_toml_text('[org]\naccount_model = "person"\n')
    no_feature = account_model_check(forced, forced, _describe(person=False))
    assert not no_feature.ok and "no Person Accounts" in no_feature.detail
    business = account_model_check(auto, auto, _describe(person=False))
    assert business.ok and "business accounts" in business.detail


def test_permission_set_grants_the_person_record_type_when_configured() -> None:
    def permission_set(config: SyncConfig) -> str:
        files = generate_metadata(config)
        return next(t for p, t in files.items() if p.endswith("Integration.permissionset-meta.xml"))

    assert "recordTypeVisibilities" not in permission_set(SyncConfig())
    xml = permission_set(PERSON)
    assert "<recordType>PersonAccount.PersonAccount</recordType>" in xml
    grants = integration_grants(PERSON)
    # a person field is granted by its Contact field's grant
    assert grants.gives("Account", "PersonEmail", {"read", "edit"})
    assert grants.gives("Account", "Stripe_Customer_Id__pc", {"read", "edit"})
    written = {(n.sobject, n.field) for n in needs(PERSON) if "edit" in n.rights}
    assert {("Account", "PersonEmail"), ("Account", "RecordTypeId")} <= written
    assert ("Account", "PersonEmail") not in {
        (n.sobject, n.field) for n in needs(SyncConfig()) if "edit" in n.rights
    }


def test_a_person_account_a_duplicate_rule_refused_links_the_matched_account() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer()},
        accounts=[account_row("001X", customer_id=None, IsPersonAccount=True)],
    )
    report = DuplicateReport("Account", "m", ("Person_Account_Rule",), (), ("001X",), True)
    view = parse_event(envelope("charge.succeeded", charge()))
    org.payload = dict(view.object)
    ctx = seeded(context_for(PERSON), [report], "cus_1")
    while needed := lookups_needed(view, PERSON, ctx):
        ctx = ctx.with_results({lk: org.answer(lk) for lk in needed})
    ops = ops_by_id(plan(view, ctx, PERSON))
    assert "account" not in ops and "contact" not in ops  # neither created
    assert (ops["link_account"].key_value, ops["link_account"].fields["Stripe_Customer_Id__c"]) == (
        "001X",
        "cus_1",
    )
