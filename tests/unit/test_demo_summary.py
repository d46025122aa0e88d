"""The demo summary's dunning check (issue #16): which failed payment attempts Stripe made, so
the summary can ask for a collection Task/Case per attempt."""

from __future__ import annotations

from stripe2sf.demo.summary import failed_attempt_keys


def test_every_attempt_of_an_unpaid_invoice_and_all_but_the_paying_one_of_a_paid_one() -> None:
    invoices = [
        {"id": "in_final", "status": "open", "attempt_count": 4},
        {"id": "in_recovered", "status": "paid", "attempt_count": 2},
        {"id": "in_first_try", "status": "paid", "attempt_count": 1},
        {"id": "in_draft", "status": "draft", "attempt_count": 0},
        {"id": "in_gave_up", "status": "uncollectible", "attempt_count": 4},
    ]
    assert failed_attempt_keys(invoices) == {
        *(f"in_final:{n}" for n in (1, 2, 3, 4)),
        "in_recovered:1",
        *(f"in_gave_up:{n}" for n in (1, 2, 3, 4)),
    }
