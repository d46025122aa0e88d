"""The log processor that keeps secrets and card numbers out of the logs."""

from __future__ import annotations

import io
import json
import logging

import structlog

from stripe2sf.logs import configure, scrub


def test_scrub_masks_secrets_and_card_numbers() -> None:
    out = scrub(
        None,
        "info",
        {
            "event": "webhook_refused",
            "password": "hunter2",
            "api_key": "sk_test_abc",
            "note": "key sk_live_abcdef and secret whsec_xyz, card 4242 4242 4242 4242",
            "nested": {"authorization": "Bearer abc.def", "pan": "4000056655665556"},
            "items": ["5555555555554444", 42],
            "event_id": "evt_123",
            "amount": 4242424242424242,  # numbers are typed facts, not scanned
        },
    )
    assert out["password"] == "[SECRET]"
    assert out["api_key"] == "[SECRET]"
    assert "sk_live" not in out["note"] and "whsec_" not in out["note"]
    assert "4242 4242" not in out["note"] and "[REDACTED]" in out["note"]
    assert out["nested"] == {"authorization": "[SECRET]", "pan": "[REDACTED]"}
    assert out["items"] == ["[REDACTED]", 42]
    assert out["event_id"] == "evt_123"


def test_configured_logger_renders_scrubbed_json() -> None:
    buffer = io.StringIO()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            scrub,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(buffer),
        cache_logger_on_first_use=False,
    )
    try:
        with structlog.contextvars.bound_contextvars(batch_id="b1"):
            structlog.get_logger().info(
                "x", event_id="evt_1", error="card 4111111111111111 refused"
            )
    finally:
        structlog.reset_defaults()
    line = json.loads(buffer.getvalue())
    assert line["batch_id"] == "b1" and line["event_id"] == "evt_1"
    assert "4111111111111111" not in line["error"]


def test_the_stripe_sdk_request_lines_stay_out_of_the_info_logs() -> None:
    """Two logfmt lines per Stripe request at INFO made most of a worker's log (and its CPU)."""
    root, stripe_log = logging.getLogger(), logging.getLogger("stripe")
    kept = root.level, stripe_log.level
    try:
        configure("INFO")
        root.setLevel(logging.INFO)  # as configure leaves it where no handler was set before
        assert not stripe_log.isEnabledFor(logging.INFO)
        assert stripe_log.isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(kept[0])
        stripe_log.setLevel(kept[1])
        structlog.reset_defaults()
