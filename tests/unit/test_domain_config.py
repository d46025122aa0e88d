"""stripe2sf.toml: defaults, validation messages, ownership, allow-list."""

from __future__ import annotations

import pytest

from stripe2sf.domain.config import ConfigError, SyncConfig, from_toml_text


def mapping(source: str, target: str) -> str:
    return f'[[mappings]]\nsource = "{source}"\ntarget = "{target}"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        from_toml_text(text)
    return info.value.problems


def test_empty_config_is_the_design_data_model() -> None:
    cfg = from_toml_text("")
    targets = {m.target for m in cfg.effective_mappings}
    for t in (
        "Stripe_Payment__c.Amount__c",
        "Stripe_Payment__c.Currency__c",
        "Stripe_Payment__c.Paid_At__c",
        "Stripe_Payment__c.Status__c",
        "Stripe_Payment__c.Invoice_Id__c",
        "Stripe_Payment__c.Card_Brand__c",
        "Stripe_Payment__c.Card_Last4__c",
        "Account.Subscription_Status__c",
        "Contact.Email",
        "Contact.FirstName",
        "Contact.LastName",
    ):
        assert t in targets
    assert cfg.failed_payments.record == "task"
    assert cfg.failed_payments.priority == "High"
    assert cfg.sync.bulk_threshold == 2000
    assert cfg == SyncConfig()


def test_errors_name_the_setting_and_what_is_expected() -> None:
    found = problems('[failed_payments]\nrecord = "email"\n')
    assert found == ["failed_payments.record: expected 'task' or 'case'; got 'email'"]
    assert problems("[matching]\nby_emial = true\n") == ["matching.by_emial: unknown setting"]
    found = problems("[sync]\nbulk_threshold = 0\n")
    assert found[0].startswith("sync.bulk_threshold:")


def test_invalid_toml_is_a_config_error() -> None:
    assert "not valid TOML" in problems("[matching\n")[0]


def test_mapping_onto_salesforce_owned_field_says_so() -> None:
    text = '[[mappings]]\nsource = "customer.name"\ntarget = "Account.Description"\n'
    (msg,) = problems(text)
    assert "Account.Description is owned by Salesforce" in msg
    assert msg.startswith("mappings[0] (customer.name -> Account.Description)")


def test_ownership_can_be_changed_to_allow_it() -> None:
    text = (
        '[ownership]\n"Account.Description" = "stripe"\n'
        '[[mappings]]\nsource = "customer.name"\ntarget = "Account.Description"\n'
    )
    cfg = from_toml_text(text)
    assert cfg.can_write("Account", "Description", creating=False)


def test_card_paths_are_refused() -> None:
    for source in (
        "charge.payment_method_details.card.number",
        "charge.metadata.cvc",
        "payment_method.card.fingerprint",
    ):
        text = f'[[mappings]]\nsource = "{source}"\ntarget = "Stripe_Payment__c.X__c"\n'
        assert "card data" in problems(text)[0]


def test_unlisted_paths_are_refused() -> None:
    text = mapping("charge.billing_details.address.line1", "Stripe_Payment__c.X__c")
    assert "not an allow-listed Stripe path" in problems(text)[0]


def test_metadata_paths_are_allowed() -> None:
    text = '[[mappings]]\nsource = "customer.metadata.plan_tier"\ntarget = "Account.Tier__c"\n'
    cfg = from_toml_text(text)
    assert any(m.target == "Account.Tier__c" for m in cfg.effective_mappings)


def test_source_must_fit_target_object_and_transform() -> None:
    text = '[[mappings]]\nsource = "charge.amount"\ntarget = "Account.Last_Amount__c"\n'
    assert "can only go to" in problems(text)[0]
    text = mapping("charge.currency", "Stripe_Payment__c.C__c") + 'transform = "money"\n'
    assert "needs an amount source" in problems(text)[0]
    text = mapping("charge.status", "Stripe_Payment__c.S__c") + 'transform = "picklist"\n'
    assert "needs a values table" in problems(text)[0]


def test_task_cannot_be_owned_by_a_queue_and_queue_needs_a_name() -> None:
    msgs = problems('[failed_payments]\nowner = "queue"\n')
    assert any("expected a queue name" in m for m in msgs)
    assert any("cannot assign a Task to a queue" in m for m in msgs)
    cfg = from_toml_text('[failed_payments]\nrecord = "case"\nowner = "queue"\nqueue = "Billing"\n')
    assert cfg.dunning_object() == "Case"


def test_structural_field_cannot_be_salesforce_owned() -> None:
    msgs = problems('[ownership]\n"Account.Stripe_Customer_Id__c" = "salesforce"\n')
    assert "cannot be owned by Salesforce" in msgs[0]


def test_configured_mapping_overrides_default_for_same_target() -> None:
    text = (
        '[[mappings]]\nsource = "charge.amount_refunded"\ntarget = "Stripe_Payment__c.Amount__c"\n'
    )
    cfg = from_toml_text(text)
    (m,) = [m for m in cfg.effective_mappings if m.target == "Stripe_Payment__c.Amount__c"]
    assert m.source == "charge.amount_refunded"


def test_replace_default_mappings() -> None:
    text = (
        "replace_default_mappings = true\n"
        '[[mappings]]\nsource = "charge.amount"\ntarget = "Stripe_Payment__c.Amount__c"\n'
    )
    assert len(from_toml_text(text).effective_mappings) == 1


def test_status_order_validated() -> None:
    assert (
        "unknown Stripe subscription statuses"
        in problems('[subscriptions]\nstatus_order = ["active", "bogus"]\n')[0]
    )


def test_target_must_be_api_names_and_invoice_targets_the_dunning_record() -> None:
    assert "expected Salesforce API names" in problems(mapping("charge.id", "Stripe Payment.X"))[0]
    assert "can only go to ['Task']" in problems(mapping("invoice.number", "Case.Invoice__c"))[0]
    cfg = from_toml_text(
        '[failed_payments]\nrecord = "case"\n' + mapping("invoice.number", "Case.N__c")
    )
    assert any(m.target == "Case.N__c" for m in cfg.effective_mappings)
