"""Failed payments: one Task/Case per attempt, owners, billing status, closing on payment."""

from __future__ import annotations

from stripe2sf.domain.config import from_toml_text
from stripe2sf.domain.operations import Operation, RecordRef
from tests.unit.test_domain_support import (
    T0,
    FakeOrg,
    account_row,
    contact_row,
    envelope,
    invoice,
    ops_by_id,
    run,
)


def test_failed_payment_opens_high_priority_task_for_account_owner() -> None:
    org = FakeOrg(
        accounts=[account_row(owner="005BOSS")], contacts=[contact_row(customer_id="cus_1")]
    )
    p = run(envelope("invoice.payment_failed", invoice()), org)
    ops = ops_by_id(p)
    task = ops["dunning"]
    assert (task.sobject, task.key_field, task.key_value) == (
        "Task",
        "Stripe_Dedupe_Key__c",
        "in_1:1",
    )
    assert task.fields["Priority"] == "High"
    assert task.fields["OwnerId"] == "005BOSS"
    assert "49.00 USD" in task.fields["Subject"]
    assert "attempt 1" in task.fields["Subject"]
    desc = task.fields["Description"]
    assert "https://invoice.stripe.com/i/test" in desc
    assert "Next retry: 2025-06-18" in desc
    # known records are referenced by Salesforce Id on polymorphic fields
    assert task.refs["WhatId"] == RecordRef("Account", "Id", "001A")
    assert task.refs["WhoId"] == RecordRef("Contact", "Id", "003A")
    assert task.record()["WhatId"] == "001A"
    assert ops["account_update"].fields == {"Billing_Status__c": "Payment Overdue"}


def test_final_attempt_sets_at_risk() -> None:
    org = FakeOrg(accounts=[account_row()])
    p = run(
        envelope("invoice.payment_failed", invoice(attempt_count=4, next_payment_attempt=None)), org
    )
    ops = ops_by_id(p)
    assert ops["account_update"].fields["Billing_Status__c"] == "At Risk"
    assert ops["dunning"].key_value == "in_1:4"
    assert "final attempt" in ops["dunning"].fields["Subject"]


def test_same_attempt_twice_gives_the_same_dedupe_key() -> None:
    org = FakeOrg(accounts=[account_row()])
    a = run(envelope("invoice.payment_failed", invoice(), event_id="evt_a"), org)
    b = run(envelope("invoice.payment_failed", invoice(), event_id="evt_b"), org)
    assert ops_by_id(a)["dunning"].key_value == ops_by_id(b)["dunning"].key_value


def test_case_owned_by_queue_when_configured() -> None:
    cfg = from_toml_text('[failed_payments]\nrecord = "case"\nowner = "queue"\nqueue = "Billing"\n')
    org = FakeOrg(accounts=[account_row()], queues={"Billing": "00GQUEUE"})
    case = ops_by_id(run(envelope("invoice.payment_failed", invoice()), org, cfg))["dunning"]
    assert case.sobject == "Case"
    assert case.fields["OwnerId"] == "00GQUEUE"
    assert case.fields["Origin"] == "Stripe"
    assert case.refs["AccountId"].value == "cus_1"


def test_old_api_invoice_subscription_field() -> None:
    org = FakeOrg(accounts=[account_row()])
    old = invoice(parent=None, subscription="sub_old")
    task = ops_by_id(run(envelope("invoice.payment_failed", old, api_version="2020-08-27"), org))
    assert "sub_old" in task["dunning"].fields["Description"]


def test_paid_invoice_closes_open_tasks_and_restores_status() -> None:
    org = FakeOrg(
        accounts=[account_row(Billing_Status__c="Payment Overdue")],
        dunning=[
            {
                "Id": "00T1",
                "Stripe_Dedupe_Key__c": "in_1:1",
                "CreatedDate": "2025-06-15T00:00:00.000+0000",
            },
            {
                "Id": "00T2",
                "Stripe_Dedupe_Key__c": "in_1:2",
                "CreatedDate": "2025-06-15T12:00:00.000+0000",
            },
        ],
    )
    paid = invoice(status="paid", status_transitions={"paid_at": T0 + 86400})
    ops = ops_by_id(run(envelope("invoice.paid", paid, created=T0 + 86400), org))
    assert ops["account_update"].fields == {"Billing_Status__c": "Current"}
    closes = [op for op in ops.values() if op.op_id.startswith("close_")]
    assert {op.key_value for op in closes} == {"in_1:1", "in_1:2"}
    for op in closes:
        assert op.fields["Status"] == "Completed"
        assert op.fields["Stripe_Resolved_At__c"].endswith("Z")
        assert op.fields["Stripe_Resolution_Minutes__c"] > 0


def _paid_while_another_invoice_is_open(**other: object) -> dict[str, Operation]:
    """The Account is Overdue; in_1 gets paid while in_2 (the customer's) is still open."""
    org = FakeOrg(
        accounts=[account_row(Billing_Status__c="Payment Overdue")],
        stripe={"in_2": invoice(id="in_2", number="INV-0002", **other)},
    )
    paid = invoice(status="paid", status_transitions={"paid_at": T0 + 86400})
    plan = run(envelope("invoice.paid", paid, created=T0 + 86400), org)
    assert any(lk.kind.value == "stripe.customer_open_invoices" for lk in org.asked)
    return {op.op_id: op for op in plan.operations}


def test_paid_invoice_keeps_the_account_overdue_while_another_invoice_is_failing() -> None:
    ops = _paid_while_another_invoice_is_open()  # in_2: attempt 1 failed, retry scheduled
    assert "account_update" not in ops  # still Payment Overdue: nothing to write


def test_paid_invoice_sets_at_risk_when_another_failing_invoice_has_no_retry_left() -> None:
    ops = _paid_while_another_invoice_is_open(attempt_count=4, next_payment_attempt=None)
    update = ops["account_update"]
    assert update.fields == {"Billing_Status__c": "At Risk"}
    assert "in_2 still unpaid" in update.reason


def test_paid_invoice_restores_current_when_the_other_open_invoice_never_failed() -> None:
    ops = _paid_while_another_invoice_is_open(attempt_count=0)  # finalized, not yet attempted
    assert ops["account_update"].fields == {"Billing_Status__c": "Current"}


def test_paid_invoice_without_failure_writes_nothing_when_current() -> None:
    org = FakeOrg(accounts=[account_row(Billing_Status__c="Current")])
    p = run(envelope("invoice.paid", invoice(status="paid")), org)
    assert p.operations == ()


def test_an_attempt_planned_after_the_payment_writes_its_task_closed() -> None:
    """The worker was behind: Stripe retried and the invoice is paid when attempt 1's event is
    planned. Its Task is written as invoice.paid would have left it: closed, resolved at the
    payment; the billing status is left to invoice.paid."""
    paid_at = T0 + 3 * 86400
    now = invoice(attempt_count=2, status="paid", status_transitions={"paid_at": paid_at})
    org = FakeOrg(accounts=[account_row(Billing_Status__c="Current")], stripe={"in_1": now})
    p = run(envelope("invoice.payment_failed", invoice()), org)
    ops = ops_by_id(p)
    assert "account_update" not in ops
    task = ops["dunning"]
    assert task.key_value == "in_1:1"
    assert task.fields["Status"] == "Completed"
    assert task.fields["Stripe_Resolved_At__c"].startswith("2025-06-18")
    assert task.fields["Stripe_Resolution_Minutes__c"] == 3 * 24 * 60
    assert "paid since" in task.reason


def test_an_attempt_planned_after_the_payment_stays_open_without_close_on_paid() -> None:
    cfg = from_toml_text("[failed_payments]\nclose_on_paid = false\n")
    now = invoice(attempt_count=2, status="paid", status_transitions={"paid_at": T0 + 86400})
    org = FakeOrg(accounts=[account_row()], stripe={"in_1": now})
    task = ops_by_id(run(envelope("invoice.payment_failed", invoice()), org, cfg))["dunning"]
    assert task.fields["Status"] == "Not Started"
    assert "Stripe_Resolved_At__c" not in task.fields


def test_task_for_a_new_customer_references_the_account_by_external_id() -> None:
    org = FakeOrg(stripe={"cus_1": {"id": "cus_1", "object": "customer", "email": "n@x.io"}})
    ops = ops_by_id(run(envelope("invoice.payment_failed", invoice()), org))
    assert ops["dunning"].refs["WhatId"] == RecordRef("Account", "Stripe_Customer_Id__c", "cus_1")
    assert ops["dunning"].depends_on == ("account", "contact")
    assert ops["account"].fields["Billing_Status__c"] == "Payment Overdue"


# Issue #16: an invoice's failed attempts as a worker behind (or a test clock advanced past
# several retries) meets them: each event is planned after Stripe has retried, so the invoice
# refetched says attempt 4, no retry left, whichever attempt the event reports.
NOW_AT_ATTEMPT_4 = invoice(attempt_count=4, next_payment_attempt=None)


def _failed(attempt: int) -> dict[str, object]:
    retry = T0 + attempt * 3 * 86400 if attempt < 4 else None
    obj = invoice(attempt_count=attempt, next_payment_attempt=retry)
    return envelope("invoice.payment_failed", obj, event_id=f"evt_{attempt}", created=T0 + attempt)


def test_each_failed_attempt_gets_its_own_task_though_the_refetch_says_the_last() -> None:
    org = FakeOrg(accounts=[account_row()], stripe={"in_1": NOW_AT_ATTEMPT_4})
    plans = [run(_failed(attempt), org) for attempt in (1, 2, 3, 4)]
    tasks = [ops_by_id(p)["dunning"] for p in plans]
    assert [t.key_value for t in tasks] == ["in_1:1", "in_1:2", "in_1:3", "in_1:4"]
    for attempt, task in enumerate(tasks, start=1):
        assert f"attempt {attempt}" in task.fields["Subject"]
        assert f"Attempt: {attempt}" in task.fields["Description"]
    # the attempt's own facts: a retry was still scheduled after attempts 1 to 3
    assert ["final attempt" in t.fields["Subject"] for t in tasks] == [False] * 3 + [True]
    assert "Next retry: 2025-06" in tasks[0].fields["Description"]
    # the Account shows the invoice as it is now: no retry left
    for p in plans:
        assert ops_by_id(p)["account_update"].fields == {"Billing_Status__c": "At Risk"}
    assert any("at attempt 4 now" in note for note in plans[0].notes)
    assert not any("at attempt 4 now" in note for note in plans[3].notes)


def test_a_payload_without_attempt_count_takes_the_refetched_attempt() -> None:
    thin = {"id": "in_1", "object": "invoice", "customer": "cus_1"}
    org = FakeOrg(accounts=[account_row()], stripe={"in_1": NOW_AT_ATTEMPT_4})
    task = ops_by_id(run(envelope("invoice.payment_failed", thin), org))["dunning"]
    assert task.key_value == "in_1:4"
    assert "final attempt" in task.fields["Subject"]


def test_recovery_closes_the_task_of_every_attempt() -> None:
    open_tasks = [
        {
            "Id": f"00T{attempt}",
            "Stripe_Dedupe_Key__c": f"in_1:{attempt}",
            "CreatedDate": f"2025-06-1{attempt}T00:00:00.000+0000",
        }
        for attempt in (1, 2, 3, 4)
    ]
    other_invoice = {
        "Id": "00T9",
        "Stripe_Dedupe_Key__c": "in_10:1",
        "CreatedDate": "2025-06-11T00:00:00.000+0000",
    }
    org = FakeOrg(
        accounts=[account_row(Billing_Status__c="At Risk")], dunning=[*open_tasks, other_invoice]
    )
    paid = invoice(status="paid", status_transitions={"paid_at": T0 + 20 * 86400})
    ops = ops_by_id(run(envelope("invoice.paid", paid, created=T0 + 20 * 86400), org))
    closes = [op for op in ops.values() if op.op_id.startswith("close_")]
    assert sorted(op.key_value for op in closes) == ["in_1:1", "in_1:2", "in_1:3", "in_1:4"]
    assert all(op.fields["Status"] == "Completed" for op in closes)
    assert ops["account_update"].fields == {"Billing_Status__c": "Current"}
