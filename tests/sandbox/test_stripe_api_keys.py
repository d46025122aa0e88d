"""The Stripe sandbox accepts only the keys it is given (`--api-keys`, the api_keys setting):
another key is answered as Stripe answers a revoked or mistyped one, so a client's wrong-key
path can be rehearsed. Without the option any test key is accepted, as before."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_sandbox.cli import build_parser, settings_from
from stripe_sandbox.testing import TEST_KEY, RunningSandbox
from tests.sandbox import stripe_support as support

sb = support.sb
stripe_server = support.stripe_server

GOOD = "sk_test_accepted_0000000000000001"
OTHER = "rk_test_accepted_0000000000000002"
WRONG = "sk_test_revoked_00000000000000abcd"


def _get(sb: RunningSandbox, key: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{sb.api_base}/v1/customers?limit=1", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _client(sb: RunningSandbox, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": sb.api_base}, max_network_retries=0)


def test_any_test_key_by_default(sb: RunningSandbox) -> None:
    assert sb.control("GET", "settings")["api_keys"] == []
    for key in (TEST_KEY, WRONG, OTHER):
        assert _get(sb, key)[0] == 200


def test_only_the_given_keys_are_accepted(sb: RunningSandbox) -> None:
    sb.settings(api_keys=[GOOD, OTHER])
    try:
        assert _get(sb, GOOD)[0] == 200 and _get(sb, OTHER)[0] == 200
        status, body = _get(sb, WRONG)
        assert status == 401
        # Stripe's body for a key it does not know: the key's prefix, a star per hidden
        # character, its last four
        masked = "sk_test_" + "*" * (len(WRONG) - 12) + "abcd"
        assert body["error"]["message"] == f"Invalid API Key provided: {masked}"
        assert body["error"]["type"] == "invalid_request_error"
        assert WRONG not in json.dumps(body)  # the key itself is never echoed

        # the official SDK raises its AuthenticationError with that message
        with pytest.raises(stripe.AuthenticationError) as caught:
            _client(sb, WRONG).v1.customers.list({"limit": 1})
        assert caught.value.http_status == 401
        assert caught.value.user_message == f"Invalid API Key provided: {masked}"

        # a live key is still refused for what it is
        status, body = _get(sb, "sk_live_0000000000000000")
        assert status == 401 and "live mode keys are refused" in body["error"]["message"]
    finally:
        sb.settings(api_keys=[])
    assert _get(sb, WRONG)[0] == 200  # switched back: any test key again


def test_api_keys_accepts_a_comma_separated_string(sb: RunningSandbox) -> None:
    answer = sb.settings(api_keys=f"{GOOD}, {OTHER}")
    try:
        assert answer["api_keys"] == [GOOD, OTHER]
        assert _get(sb, TEST_KEY)[0] == 401
    finally:
        sb.settings(api_keys=[])


@pytest.mark.parametrize("value", [["sk_live_0000000000000000"], ["pk_test_00000000000"], [3]])
def test_a_bad_api_keys_value_is_a_400(sb: RunningSandbox, value: list[Any]) -> None:
    request = urllib.request.Request(
        f"{sb.api_base}/_sandbox/settings",
        data=json.dumps({"api_keys": value}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    error = json.loads(caught.value.read())["error"]
    assert error["param"] == "api_keys" and "sk_test_/rk_test_" in error["message"]
    assert sb.control("GET", "settings")["api_keys"] == []


def test_the_command_line_option() -> None:
    parser = build_parser()
    assert "--api-keys" in parser.format_help()
    args = parser.parse_args(["--api-keys", f"{GOOD},{OTHER}"])
    assert settings_from(args).api_keys == [GOOD, OTHER]
    assert settings_from(parser.parse_args([])).api_keys == []
    refused = subprocess.run(
        [sys.executable, "-m", "stripe_sandbox.cli", "--api-keys", "sk_live_x0000000000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "--api-keys" in refused.stderr and "sk_test_/rk_test_" in refused.stderr
