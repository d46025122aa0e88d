"""[salesforce_to_stripe]: defaults, ownership filter, configuration errors, mapping document."""

from __future__ import annotations

import pytest

from stripe2sf.domain.config import ConfigError, from_toml_text
from stripe2sf.domain.reverse.mapping import active_mappings, all_mappings
from stripe2sf.domain.setup.mapping_doc import mapping_rows, to_markdown

ON = "[salesforce_to_stripe]\nenabled = true\n"
EMAIL_OWNED = '[ownership]\n"Contact.Email" = "salesforce"\n'


def _active(text: str) -> dict[str, str]:
    return {m.stripe_field: m.source_text for m in active_mappings(from_toml_text(text))}


def test_off_by_default_and_defaults_follow_ownership() -> None:
    assert from_toml_text("").salesforce_to_stripe.enabled is False
    active = _active(ON)
    # Contact.Email is Stripe's by default: its mapping stays inactive; the rest Salesforce owns
    assert "email" not in active
    assert active["phone"] == "Contact.Phone"
    assert active["name"] == "Account.Name"  # create_only: Salesforce's after creation
    assert active["address.city"] == "Account.BillingCity"
    assert _active(ON + EMAIL_OWNED)["email"] == "Contact.Email"


def test_person_accounts_default_name_is_the_persons() -> None:
    config = from_toml_text(ON + '[org]\naccount_model = "person"\n')
    name = next(m for m in all_mappings(config) if m.stripe_field == "name")
    assert name.sources == ("Contact.FirstName", "Contact.LastName")
    assert name.change_fields("Account", True) == ("FirstName", "LastName")
    email = next(m for m in all_mappings(config) if m.stripe_field == "email")
    assert email.change_fields("Account", True) == ("PersonEmail",)
    assert email.change_fields("Account", False) is None


def test_configured_fields_override_and_empty_drops_a_default() -> None:
    text = ON + '[salesforce_to_stripe.fields]\nphone = "Contact.MobilePhone"\nname = ""\n'
    text += '[ownership]\n"Contact.MobilePhone" = "salesforce"\n'
    active = _active(text)
    assert active["phone"] == "Contact.MobilePhone"
    assert "name" not in active


def test_mapping_a_stripe_owned_field_is_an_error_saying_what_to_change() -> None:
    with pytest.raises(ConfigError) as err:
        from_toml_text(ON + '[salesforce_to_stripe.fields]\nemail = "Contact.Email"\n')
    [problem] = err.value.problems
    assert 'salesforce_to_stripe.fields."email"' in problem
    assert "owned by Stripe" in problem
    assert '[ownership] "Contact.Email" = "salesforce"' in problem


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('[salesforce_to_stripe.fields]\nfax = "Contact.Fax"\n', "unknown Stripe customer fields"),
        ('[salesforce_to_stripe.fields]\nphone = "Phone"\n', "expected 'Object.Field'"),
        ('[salesforce_to_stripe.fields]\nphone = "Lead.Phone"\n', "Account or Contact"),
        (
            '[salesforce_to_stripe.fields]\nname = ["Contact.FirstName", "Account.Name"]\n',
            "all be of one object",
        ),
        ('[salesforce_to_stripe]\nignore_user_ids = ["bob"]\n', "User Ids"),
        ('[salesforce_to_stripe]\nenabled = "maybe"\n', "salesforce_to_stripe.enabled"),
    ],
)
def test_bad_settings_are_named(body: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_toml_text(body)
    assert says in str(err.value)


def test_mapping_document_shows_both_directions() -> None:
    config = from_toml_text(ON + EMAIL_OWNED)
    rows = mapping_rows(config)
    back = [r for r in rows if r.direction == "salesforce -> stripe"]
    by_target = {r.stripe_source: r for r in back}
    assert by_target["customer.email"].salesforce_field == "Contact.Email"
    assert by_target["customer.email"].owner == "salesforce"
    assert "written to Stripe" in by_target["customer.email"].note
    assert {r.direction for r in rows} == {"stripe -> salesforce", "salesforce -> stripe"}
    # off: the Salesforce -> Stripe rows say the flow is off
    off = [
        r
        for r in mapping_rows(from_toml_text(EMAIL_OWNED))
        if r.direction != "stripe -> salesforce"
    ]
    assert off and all("[salesforce_to_stripe] is off" in r.note for r in off)
    # a Stripe-owned default shows inactive, with why
    inactive = {
        r.stripe_source: r
        for r in mapping_rows(from_toml_text(ON))
        if r.direction != "stripe -> salesforce"
    }
    assert "inactive" in inactive["customer.email"].note
    assert "salesforce -> stripe" in to_markdown(config)
