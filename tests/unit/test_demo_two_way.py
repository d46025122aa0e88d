"""The demo's Salesforce -> Stripe part, its pure pieces: the configuration it writes (on top
of any org variation), the settings that turn CDC capture on, and the seeded org the summary
checks after the rep's correction (the run itself: tests/acceptance/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stripe2sf.demo.run import write_config
from stripe2sf.demo.seed import SeededOrg
from stripe2sf.demo.two_way import (
    TwoWayReport,
    after_corrections,
    capture_env,
    corrected,
)
from stripe2sf.demo.variations import parse_variations, plan_org
from stripe2sf.domain.reverse.mapping import active_mappings
from stripe2sf.domain.setup.metadata import generate_metadata
from stripe2sf.settings import load_settings


def test_two_way_turns_on_reverse_sync_actions_and_gives_the_email_to_salesforce(
    tmp_path: Path,
) -> None:
    path, config = write_config(tmp_path, plan_org(()), two_way=True)
    assert path == tmp_path / "stripe2sf.toml" and config is not None
    assert config.salesforce_to_stripe.enabled and config.actions.enabled
    assert config.actions.stage == "Closed Won" and config.actions.kind == "invoice"
    # stripe2sf still sets the email of the Contacts it creates; a rep's correction wins after
    assert config.owner_of("Contact", "Email") == "create_only"
    assert config.can_write("Contact", "Email", creating=True)
    assert not config.can_write("Contact", "Email", creating=False)
    assert "email" in {m.stripe_field for m in active_mappings(config)}
    files = generate_metadata(config)
    members = {n for n in files if "platformEventChannelMembers" in n}
    assert any("OpportunityChangeEvent" in n for n in members)
    assert any("ContactChangeEvent" in n for n in members)
    assert any("Opportunity/fields/Stripe_Invoice_Url__c" in n for n in files)


def test_two_way_keeps_the_org_variations_settings(tmp_path: Path) -> None:
    plan = plan_org(parse_variations(["person-accounts,rules"]))
    _, config = write_config(tmp_path, plan, two_way=True)
    assert config is not None
    assert config.org.account_model == "person" and config.matching.on_duplicate == "link"
    assert config.salesforce_to_stripe.enabled and config.actions.enabled


def test_without_two_way_the_config_is_the_variations_alone(tmp_path: Path) -> None:
    assert write_config(tmp_path, plan_org(())) == (None, None)


def test_capture_settings_are_read_as_cdc_from_the_sandboxes_pubsub_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in capture_env(48703).items():
        monkeypatch.setenv(name, value)
    settings = load_settings(config_path=None)
    assert settings.capture == "cdc"
    assert settings.salesforce_pubsub_endpoint == "127.0.0.1:48703"
    assert set(settings.capture_objects) == {
        "Account",
        "Contact",
        "Opportunity",
        "Stripe_Request__c",
    }


def test_the_rep_corrects_the_domain_and_the_summary_looks_for_the_new_email() -> None:
    assert corrected("BILLING@ACME.example") == "billing@acme-corp.example"
    org = SeededOrg(matching_emails=("BILLING@ACME.example", "billing@globex.example"))
    report = TwoWayReport(old_email="BILLING@ACME.example", new_email="billing@acme-corp.example")
    assert after_corrections(org, report).matching_emails == (
        "billing@acme-corp.example",
        "billing@globex.example",
    )
    # nothing corrected (the step failed): the org as seeded
    assert after_corrections(org, TwoWayReport()) is org
