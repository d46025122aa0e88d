"""doctor's pure decisions about what surrounds the org: the webhook endpoint, the database's
migrations, failures told in words (never a library's text), and the one deploy hint."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import stripe

from stripe2sf.domain.config import from_mapping
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.domain.setup.account_model import METADATA_HINT
from stripe2sf.domain.setup.doctor import (
    DEPLOY_COMMAND,
    DEPLOY_HINT,
    GENERATE_COMMAND,
    after_generating,
    assign_command,
    deploy_command,
)
from stripe2sf.domain.setup.doctor_database import SchemaState, database_check
from stripe2sf.domain.setup.doctor_webhooks import expected_url, webhook_checks
from stripe2sf.domain.setup.plain_errors import (
    stripe_failed,
    unreachable,
    without_support_line,
)
from stripe2sf.domain.setup.schema import check_against_describe, required_fields
from stripe2sf.network_failure import network_problem
from stripe2sf.stripe.plain_errors import explain

NEEDED = ("charge.succeeded", "customer.created", "invoice.paid")
URL = "https://sync.example.com/webhooks/stripe"


def endpoint(url: str = URL, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "we_1",
        "url": url,
        "status": "enabled",
        "enabled_events": list(NEEDED) if events is None else events,
        **extra,
    }


# ---- the webhook endpoint -----------------------------------------------------------------


def test_expected_url_takes_the_address_with_or_without_the_path() -> None:
    assert expected_url("https://sync.example.com") == URL
    assert expected_url("https://sync.example.com/") == URL
    assert expected_url(URL) == URL
    assert (
        expected_url("https://h.example.com/base") == "https://h.example.com/base/webhooks/stripe"
    )


def test_the_endpoint_pointing_here_with_every_type_passes() -> None:
    [check] = webhook_checks([endpoint("HTTPS://Sync.Example.com/webhooks/stripe/")], URL, NEEDED)
    assert check.ok and "subscribes to every type stripe2sf needs" in check.detail
    [check] = webhook_checks([endpoint(events=["*"])], "https://sync.example.com", NEEDED)
    assert check.ok and "every event stripe2sf needs" in check.detail


def test_no_endpoint_points_here() -> None:
    others = [endpoint("https://old.example.com/webhooks/stripe")]
    [check] = webhook_checks(others, URL, NEEDED)
    assert not check.ok
    assert check.detail == (
        f"no webhook endpoint of this Stripe account points at {URL} (STRIPE2SF_PUBLIC_URL) "
        "(endpoints: https://old.example.com/webhooks/stripe)"
    )
    assert check.fix.startswith(f"add an endpoint with URL {URL}")
    assert "STRIPE_WEBHOOK_SECRET" in check.fix


def test_missing_types_are_named() -> None:
    [check] = webhook_checks([endpoint(events=["customer.created"])], URL, NEEDED)
    assert not check.ok
    assert check.detail == (
        f"we_1 ({URL}) does not subscribe to 2 event type(s) stripe2sf needs: "
        "charge.succeeded, invoice.paid"
    )
    assert check.fix.endswith("charge.succeeded, invoice.paid")


def test_a_disabled_endpoint_fails_before_its_types_are_judged() -> None:
    [check] = webhook_checks([endpoint(status="disabled", events=[])], URL, NEEDED)
    assert not check.ok and check.detail == f"we_1 ({URL}) is disabled: Stripe sends it nothing"


def test_one_good_endpoint_of_several_pointing_here_passes() -> None:
    bad = endpoint(events=[], id="we_bad")
    good = endpoint(id="we_good")
    [check] = webhook_checks([bad, good], URL, NEEDED)
    assert check.ok and check.detail.startswith("we_good")
    [check] = webhook_checks([bad], URL, NEEDED)
    assert not check.ok and check.detail.startswith("we_bad")


def test_without_the_public_url_a_warning_and_the_path_decides() -> None:
    ours = endpoint("https://any.example.com/webhooks/stripe")
    warning, check = webhook_checks([endpoint("https://x.example.com/hooks"), ours], None, NEEDED)
    assert warning.ok and warning.warning and warning.name == "STRIPE2SF_PUBLIC_URL"
    assert "found: https://any.example.com/webhooks/stripe" in warning.detail
    assert "STRIPE2SF_PUBLIC_URL" in warning.fix
    assert check.ok
    _, check = webhook_checks([endpoint("https://x.example.com/hooks")], None, NEEDED)
    assert not check.ok and "has the path /webhooks/stripe" in check.detail


# ---- the database -------------------------------------------------------------------------

REVISIONS = ("0001", "0002", "0003", "0004")


def test_database_states() -> None:
    where = "sqlite:///srv/stripe2sf.db"
    missing = database_check(where, SchemaState("there is no database at /srv/stripe2sf.db"))
    assert not missing.ok and "`stripe2sf db upgrade`" in missing.fix
    assert "STRIPE2SF_DATABASE_URL" in missing.fix

    ok = database_check(where, SchemaState(None, ("0004",), REVISIONS))
    assert ok.ok and ok.detail == f"{where} is reachable and migrated (revision 0004)"

    behind = database_check(where, SchemaState(None, ("0002",), REVISIONS))
    assert not behind.ok
    assert behind.detail == (
        f"{where} is at revision 0002, 2 migration(s) behind this stripe2sf's 0004"
    )
    assert behind.fix.startswith("run `stripe2sf db upgrade`")

    newer = database_check(where, SchemaState(None, ("0007",), REVISIONS))
    assert not newer.ok and "a newer stripe2sf migrated it" in newer.detail
    assert "never run an older version" in newer.fix

    empty = database_check(where, SchemaState(None, (), REVISIONS))
    assert not empty.ok and "no migration revision" in empty.detail


# ---- failures in words --------------------------------------------------------------------

SDK_TEXT = (
    "Unexpected error communicating with Stripe.  If this problem persists,\nlet us know at "
    "support@stripe.com.\n\n(Network error: ConnectionError: refused)"
)


def _raised(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as caught:
        return caught


def test_without_support_line() -> None:
    assert without_support_line("Request req_123: Invalid API Key provided: sk_test_***a") == (
        "Invalid API Key provided: sk_test_***a"
    )
    assert "support@stripe.com" not in without_support_line(SDK_TEXT)
    assert without_support_line(SDK_TEXT).startswith("Unexpected error communicating with Stripe.")


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (_raised(RuntimeError("wrapped"), ConnectionRefusedError(111, "refused")), "refused"),
        (_raised(OSError("x"), socket.gaierror(-2, "Name or service not known")), "dns"),
        (RuntimeError(ValueError("x"), TimeoutError("read")), "timeout"),
        (
            OSError('connection failed: connection to server at "h" failed: Connection refused'),
            "refused",
        ),
        (OSError('could not translate host name "db" to address'), "dns"),
        (OSError("SSL: CERTIFICATE_VERIFY_FAILED certificate verify failed"), "tls"),
        (RuntimeError("boom"), "other"),
    ],
)
def test_network_problem_finds_the_error_underneath(error: BaseException, problem: str) -> None:
    assert network_problem(error) == problem


def test_a_reason_attribute_is_followed() -> None:
    class MaxRetry(Exception):
        def __init__(self, reason: BaseException) -> None:
            super().__init__("pool: max retries")
            self.reason = reason

    wrapped = RuntimeError(MaxRetry(_raised(OSError("new conn"), ConnectionRefusedError())))
    assert network_problem(wrapped) == "refused"


def test_unreachable_sentences() -> None:
    detail, fix = unreachable(
        "Salesforce", "https://x.my.salesforce.com", "dns", "SALESFORCE_LOGIN_URL"
    )
    assert detail == (
        "cannot reach Salesforce at https://x.my.salesforce.com: its host name does not resolve "
        "(a typo in the address, or no name service here)"
    )
    assert fix.startswith("check SALESFORCE_LOGIN_URL and that Salesforce is up")
    detail, _ = unreachable("Stripe", "h", "other", "X", raw=SDK_TEXT + " " + "y" * 400)
    assert "support@stripe.com" not in detail and detail.endswith("...)")
    assert stripe_failed(503, "Request req_1: down")[0] == "Stripe answered 503: down"


def test_stripe_errors_explained() -> None:
    connection = _raised(stripe.APIConnectionError(SDK_TEXT), ConnectionRefusedError())
    detail, fix = explain(connection, "http://127.0.0.1:9", "list customers", "Customers")
    assert detail.startswith(
        "cannot reach Stripe at http://127.0.0.1:9: the connection was refused"
    )
    assert "support@stripe.com" not in detail + fix and "STRIPE_API_BASE" in fix

    detail, fix = explain(connection, None, "list customers", "Customers")
    assert "https://api.stripe.com" in detail and "HTTPS_PROXY" in fix

    key = stripe.AuthenticationError("Invalid API Key provided: sk_test_****abcd")
    wrapped = _raised(PermanentError("Stripe refused the API key"), key)
    detail, fix = explain(wrapped, None, "list customers", "Customers")
    assert detail.startswith("Stripe refused STRIPE_API_KEY (Invalid API Key provided: ")
    assert "STRIPE_API_KEY" in fix

    denied = stripe.PermissionError("The provided key 'rk_test_***' does not have access")
    detail, fix = explain(denied, None, "list webhook endpoints", "Webhook Endpoints")
    assert detail.startswith("the key in STRIPE_API_KEY may not list webhook endpoints")
    assert "Read on Webhook Endpoints" in fix

    server = stripe.APIError("Request req_9: boom", http_status=500)
    assert explain(RetryableError("x"), None, "a", "b")[0].startswith("cannot reach Stripe")
    assert explain(server, None, "a", "b")[0] == "Stripe answered 500: boom"


# ---- one deploy hint ----------------------------------------------------------------------


def test_every_deploy_hint_is_the_readmes() -> None:
    assert f"`{GENERATE_COMMAND}`, then `{DEPLOY_COMMAND}`" == DEPLOY_HINT
    assert DEPLOY_HINT in METADATA_HINT
    after = after_generating("out dir", "u@example.com")
    assert (
        f"`{deploy_command('out dir')}`" in after and "cd 'out dir' && sf project deploy" in after
    )
    assert assign_command("u@example.com") in after
    config = from_mapping({})
    describe = {
        s.sobject: {f.name for f in required_fields(config) if f.sobject == s.sobject}
        for s in required_fields(config)
    }
    describe["Account"].discard("Billing_Status__c")
    [problem] = [p for p in check_against_describe(config, describe) if "Billing_Status" in p]
    assert DEPLOY_HINT in problem
