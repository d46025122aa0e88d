"""doctor's capture decisions (pure): what each Pub/Sub answer means and its fix."""

from __future__ import annotations

from stripe2sf.domain.setup.doctor import DEPLOY_HINT
from stripe2sf.domain.setup.doctor_capture import (
    Probe,
    cdc_checks,
    missing_objects,
    poll_checks,
)

CAPTURED = ("Account", "Contact")


def test_each_answer_has_its_fix() -> None:
    ok, denied, unselected, unused, down = cdc_checks(
        [
            Probe("Account", "/data/AccountChangeEvent", "ok"),
            Probe("Contact", "/data/ContactChangeEvent", "denied", "no permission"),
            Probe("Contact", "/data/ContactChangeEvent", "not_found"),
            Probe("Opportunity", "/data/OpportunityChangeEvent", "denied"),
            Probe("Account", "/data/AccountChangeEvent", "failed", "UNAVAILABLE"),
        ],
        CAPTURED,
        user="int@example.com",
    )
    assert ok.ok and not any(c.ok for c in (denied, unselected, unused, down))
    assert "View All Records on Contact" in denied.detail and "no permission" in denied.detail
    assert DEPLOY_HINT in denied.fix and "--on-behalf-of int@example.com" in denied.fix
    assert "Setup > Integrations > Change Data Capture" in unselected.fix
    assert unused.fix.startswith("remove Opportunity from STRIPE2SF_CAPTURE_OBJECTS")
    assert "SALESFORCE_PUBSUB_ENDPOINT" in down.fix


def test_capture_must_cover_what_the_configuration_uses() -> None:
    assert missing_objects("cdc", ["Account", "Contact", "Opportunity"], CAPTURED) is None
    assert missing_objects("off", [], ()) is None
    off = missing_objects("off", ["Account", "Contact"], CAPTURED)
    assert off is not None and "STRIPE2SF_CAPTURE=cdc" in off.fix
    narrow = missing_objects("poll", ["Contact"], CAPTURED)
    assert narrow is not None and narrow.fix == "set STRIPE2SF_CAPTURE_OBJECTS=Contact,Account"


def test_polling_fields_needed_or_named_must_be_readable() -> None:
    watched = {"Contact": ["Email", "Phone", "MailingCity"]}
    needed = [("Contact", "Phone")]
    # a default watched field the user cannot read is left out, said, not failed
    [fine] = poll_checks(watched, {"Contact": {"Email", "Phone"}}, needed)
    assert fine.ok and "left out: MailingCity" in fine.detail
    [hidden] = poll_checks(watched, {"Contact": {"Email"}}, needed)
    assert not hidden.ok and "Contact.Phone" in hidden.detail and DEPLOY_HINT in hidden.fix
    [named] = poll_checks(
        watched, {"Contact": {"Email", "Phone"}}, needed, configured=["Contact.MailingCity"]
    )
    assert not named.ok and "STRIPE2SF_CAPTURE_POLL_FIELDS" in named.fix
    [gone] = poll_checks(watched, {"Contact": None}, needed)
    assert gone.detail == "the user may not read Contact"
