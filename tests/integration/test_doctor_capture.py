"""`stripe2sf doctor`'s capture checks as the integration user, against the Salesforce sandbox
(its Pub/Sub API enforcing Change Data Capture's permissions): with the metadata `stripe2sf
metadata` generates for [salesforce_to_stripe] deployed (channel members for Account and
Contact, the integration set with View All Records on them) the checks pass once the set is
assigned, and fail naming View All Records and the deploy/assign fix before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.config import SyncConfig, from_mapping
from stripe2sf.domain.setup.doctor import DEPLOY_HINT, Check, assign_command
from stripe2sf.engine.doctor_capture import capture_access
from stripe2sf.metadata_files import write_metadata
from stripe2sf.salesforce.client import connect
from stripe2sf.settings import Settings, capture_objects, load_settings
from tests.acceptance.test_doctor_interlock import assign_integration_set

REVERSE = from_mapping({"salesforce_to_stripe": {"enabled": True}})


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    metadata = tmp_path_factory.mktemp("metadata")
    write_metadata(metadata, REVERSE)  # what `stripe2sf metadata --out DIR` writes
    with run_salesforce(metadata=[metadata]) as sandbox:
        yield sandbox


@pytest.fixture
def fresh(org: SandboxServer) -> SandboxServer:
    org.reset()  # deployed metadata (sets, channel members) stays; assignments go
    return org


def settings_for(org: SandboxServer, tmp_path: Path, **overrides: object) -> Settings:
    """stripe2sf logging in as the integration user (JWT bearer), as in production."""
    key = tmp_path / "jwt-private-key.pem"
    key.write_text(org.jwt_private_key)
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'stripe2sf.db'}",
        salesforce_login_url=org.instance_url,
        salesforce_username=org.integration_username,
        salesforce_client_id=org.client_id,
        salesforce_jwt_key_file=key,
        salesforce_ca_bundle=org.ca_path,
        salesforce_pubsub_endpoint=org.pubsub_target,
        **overrides,
    )


def doctor(org: SandboxServer, settings: Settings, config: SyncConfig = REVERSE) -> list[Check]:
    with connect(settings) as client:
        return capture_access(settings, config, client, org.integration_username)


def failures(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks if not c.ok}


def test_cdc_passes_with_the_generated_set_and_names_view_all_without(
    fresh: SandboxServer, tmp_path: Path
) -> None:
    settings = settings_for(fresh, tmp_path, capture="cdc", capture_objects=["Account", "Contact"])
    before = failures(doctor(fresh, settings))
    assert set(before) == {
        "Salesforce capture access: /data/AccountChangeEvent",
        "Salesforce capture access: /data/ContactChangeEvent",
    }
    contact = before["Salesforce capture access: /data/ContactChangeEvent"]
    assert "View All Records on Contact" in contact.detail
    assert DEPLOY_HINT in contact.fix
    assert assign_command(fresh.integration_username) in contact.fix

    assign_integration_set(fresh)
    after = doctor(fresh, settings)
    assert [c.name for c in after] == [
        "Salesforce capture access: /data/AccountChangeEvent",
        "Salesforce capture access: /data/ContactChangeEvent",
    ]
    assert all(c.ok for c in after), failures(after)


def test_an_object_the_configuration_does_not_use_is_to_be_left_out(
    fresh: SandboxServer, tmp_path: Path
) -> None:
    assign_integration_set(fresh)
    # unset, the objects are those the configuration uses: all pass
    following = settings_for(fresh, tmp_path, capture="cdc")
    assert capture_objects(following, REVERSE) == ["Account", "Contact"]
    checks = doctor(fresh, following)
    assert [c.name for c in checks] == [
        "Salesforce capture access: /data/AccountChangeEvent",
        "Salesforce capture access: /data/ContactChangeEvent",
    ]
    assert all(c.ok for c in checks), failures(checks)
    # Opportunity, which [salesforce_to_stripe] never uses, named by hand: not selected for
    # CDC, and selected it is refused (no View All Records on it)
    settings = settings_for(
        fresh, tmp_path, capture="cdc", capture_objects=["Account", "Contact", "Opportunity"]
    )
    opportunity = "Salesforce capture access: /data/OpportunityChangeEvent"
    for selected in (False, True):
        if selected:
            fresh.select_cdc([*fresh.cdc_selected(), "Opportunity"])
        found = failures(doctor(fresh, settings))
        assert set(found) == {opportunity}
        assert "remove Opportunity from STRIPE2SF_CAPTURE_OBJECTS" in found[opportunity].fix
    # and capture that leaves out an object the configuration uses fails too
    narrow = settings_for(fresh, tmp_path, capture="cdc", capture_objects=["Account"])
    [missing] = [c for c in doctor(fresh, narrow) if not c.ok]
    assert "leaves out Contact" in missing.detail
    assert missing.fix == "set STRIPE2SF_CAPTURE_OBJECTS=Account,Contact"


def test_polling_needs_the_fields_it_sends_to_stripe_readable(
    fresh: SandboxServer, tmp_path: Path
) -> None:
    settings = settings_for(fresh, tmp_path, capture="poll", capture_objects=["Account", "Contact"])
    before = failures(doctor(fresh, settings))
    assert before["Salesforce capture access: poll Contact"].detail == (
        "the user may not read Contact"
    )
    assign_integration_set(fresh)
    after = doctor(fresh, settings)
    assert all(c.ok for c in after), failures(after)
    contact = next(c for c in after if c.name.endswith("poll Contact"))
    assert "Phone" in contact.detail.split(";")[0]  # read: [salesforce_to_stripe] sends it
    # a configured poll field the set does not grant is named, with its fix
    odd = settings_for(
        fresh,
        tmp_path,
        capture="poll",
        capture_objects=["Account", "Contact"],
        capture_poll_fields=["Contact.Phone", "Contact.Department"],
    )
    found = failures(doctor(fresh, odd))
    assert "Contact.Department" in found["Salesforce capture access: poll Contact"].detail
    assert "STRIPE2SF_CAPTURE_POLL_FIELDS" in found["Salesforce capture access: poll Contact"].fix


def test_nothing_to_check_when_nothing_is_captured(fresh: SandboxServer, tmp_path: Path) -> None:
    assert doctor(fresh, settings_for(fresh, tmp_path), SyncConfig()) == []
    # capture off while the configuration needs Salesforce changes
    [off] = doctor(fresh, settings_for(fresh, tmp_path))
    assert not off.ok and "STRIPE2SF_CAPTURE=cdc" in off.fix
