"""Salesforce -> Stripe planning: mapped fields, ownership, echo, targets, idempotency keys."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX, SalesforceChange
from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.matching.links import Link
from stripe2sf.domain.reverse.plan import (
    Skip,
    StripeUpdate,
    idempotency_key,
    plan_change,
    targets,
    update_for,
)

CONFIG = from_toml_text(
    '[salesforce_to_stripe]\nenabled = true\n[ownership]\n"Contact.Email" = "salesforce"\n'
)
ME = "005000000000001AAA"
REP = "005000000000002AAA"
CONTACT = "003000000000001AAA"
ACCOUNT = "001000000000001AAA"


def change(
    entity: str = "Contact",
    fields: dict[str, Any] | None = None,
    *,
    kind: str = "updated",
    user: str = REP,
    record: str = CONTACT,
    position: str = "tx1:1",
    customer: str | None = "cus_1",
) -> SalesforceChange:
    fields = fields if fields is not None else {"Email": "new@example.com"}
    return SalesforceChange(
        entity=entity,
        change=kind,  # type: ignore[arg-type]
        record_id=record,
        fields=fields,
        changed=tuple(fields),
        commit_ts_ms=1_700_000_000_000,
        source="cdc",
        position=position,
        commit_user=user,
        customer_id=customer,
    )


def test_a_salesforce_owned_email_change_is_planned_for_stripe() -> None:
    plan = plan_change(change(), CONFIG, [ME])
    assert plan.wanted == {"email": "new@example.com"}
    assert plan.sources == {"email": "Contact.Email"}
    assert not plan.skipped and not plan.needs


def test_a_stripe_owned_field_is_never_written() -> None:
    default = from_toml_text("[salesforce_to_stripe]\nenabled = true\n")  # Email: Stripe's
    plan = plan_change(change(), default, [ME])
    assert plan.wanted == {}
    [skip] = plan.skipped
    assert skip.kind == "stripe_owned" and "Contact.Email" in skip.reason
    assert "Stripe owns it" in skip.reason


def test_own_users_changes_are_echoes_and_so_are_ignored_users() -> None:
    plan = plan_change(change(user=ME), CONFIG, [ME[:15]])  # 15 and 18 character ids
    assert plan.wanted == {} and plan.skipped[0].kind == "echo"
    other = from_toml_text(
        "[salesforce_to_stripe]\nenabled = true\n"
        f'ignore_user_ids = ["{REP}"]\n[ownership]\n"Contact.Email" = "salesforce"\n'
    )
    assert plan_change(change(), other, [ME]).skipped[0].kind == "echo"


def test_off_deleted_and_unmapped_changes_are_skipped_with_reasons() -> None:
    assert plan_change(change(), SyncConfig(), [ME]).skipped[0].kind == "disabled"
    deleted = plan_change(change(kind="deleted", fields={}), CONFIG, [ME])
    assert deleted.skipped[0].kind == "deleted" and "never deletes" in deleted.skipped[0].reason
    title = plan_change(change(fields={"Title": "CFO"}), CONFIG, [ME])
    assert title.wanted == {} and title.skipped[0].kind == "not_mapped"


def test_address_parts_go_together_and_missing_parts_are_read() -> None:
    c = change("Account", {"BillingCity": "Lyon"}, record=ACCOUNT)
    first = plan_change(c, CONFIG, [ME])
    assert set(first.needs) == {
        "BillingStreet",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
    }
    known = {
        "BillingStreet": "1 rue X",
        "BillingState": None,
        "BillingPostalCode": "69001",
        "BillingCountry": "FR",
        "BillingCity": "Paris",  # older than the change: the change wins
    }
    plan = plan_change(c, CONFIG, [ME], known=known)
    assert plan.wanted == {
        "address.line1": "1 rue X",
        "address.city": "Lyon",
        "address.state": None,
        "address.postal_code": "69001",
        "address.country": "FR",
    }
    customer = {
        "id": "cus_1",
        "address": {
            "line1": "1 rue X",
            "line2": "Bat B",
            "city": "Paris",
            "state": None,
            "postal_code": "69001",
            "country": "FR",
        },
    }
    update = update_for(plan, "cus_1", customer)
    assert isinstance(update, StripeUpdate)
    assert update.fields == ("address.city",)
    # Stripe replaces an address whole: the unmapped line2 keeps Stripe's value
    # (a mapped part empty in Salesforce is sent empty: Stripe clears it)
    assert update.params == {
        "address": {
            "line1": "1 rue X",
            "line2": "Bat B",
            "city": "Lyon",
            "state": "",
            "postal_code": "69001",
            "country": "FR",
        }
    }


def test_only_differing_fields_are_sent_and_nothing_when_stripe_has_them() -> None:
    plan = plan_change(change(fields={"Email": "new@example.com", "Phone": "+331"}), CONFIG, [ME])
    update = update_for(plan, "cus_1", {"id": "cus_1", "email": "old@example.com", "phone": "+331"})
    assert isinstance(update, StripeUpdate)
    assert update.params == {"email": "new@example.com"} and update.fields == ("email",)
    same = update_for(plan, "cus_1", {"id": "cus_1", "email": "new@example.com", "phone": "+331"})
    assert isinstance(same, Skip) and same.kind == "unchanged"
    gone = update_for(plan, "cus_1", {"id": "cus_1", "deleted": True})
    assert isinstance(gone, Skip) and gone.kind == "customer_gone"
    cleared = plan_change(change(fields={"Phone": None}), CONFIG, [ME])
    clear = update_for(cleared, "cus_1", {"id": "cus_1", "phone": "+331"})
    assert isinstance(clear, StripeUpdate) and clear.params == {"phone": ""}  # '' clears


def test_idempotency_key_is_stable_across_redelivery_and_differs_per_change() -> None:
    one = update_for(plan_change(change(), CONFIG, [ME]), "cus_1", {"email": "a@b.c"})
    again = update_for(plan_change(change(), CONFIG, [ME]), "cus_1", {"email": "a@b.c"})
    later = update_for(
        plan_change(change(position="tx2:1"), CONFIG, [ME]), "cus_1", {"email": "a@b.c"}
    )
    assert isinstance(one, StripeUpdate) and isinstance(again, StripeUpdate)
    assert isinstance(later, StripeUpdate)
    assert one.idempotency_key == again.idempotency_key
    assert one.idempotency_key != later.idempotency_key
    assert one.idempotency_key.startswith(IDEMPOTENCY_PREFIX)
    assert idempotency_key("e", "cus_1", {"a": 1, "b": 2}) == idempotency_key(
        "e", "cus_1", {"b": 2, "a": 1}
    )


def test_person_accounts_name_joins_first_and_last_from_the_account_change() -> None:
    config = from_toml_text(
        '[salesforce_to_stripe]\nenabled = true\n[org]\naccount_model = "person"\n'
    )
    c = change("Account", {"FirstName": "Ada", "LastName": "Lovelace"}, record=ACCOUNT)
    assert plan_change(c, config, [ME]).wanted == {"name": "Ada Lovelace"}


def test_targets_contact_only_for_its_customers_primary_contact() -> None:
    c = change()
    assert targets(c, {"cus_1": Link(ACCOUNT, CONTACT)}) == (("cus_1",), ())
    found, skipped = targets(c, {"cus_1": Link(ACCOUNT, "003000000000009AAA")})
    assert found == () and skipped[0].kind == "not_primary"
    # capture knew the customer, stripe2sf has no link row: trusted
    assert targets(c, {})[0] == ("cus_1",)
    lone = change(customer=None)
    found, skipped = targets(lone, {})
    assert found == () and skipped[0].kind == "not_linked"
    account = change("Account", {"Name": "Acme"}, record=ACCOUNT, customer=None)
    both = {"cus_1": Link(ACCOUNT, CONTACT), "cus_2": Link(ACCOUNT, None)}
    assert targets(account, both)[0] == ("cus_1", "cus_2")
