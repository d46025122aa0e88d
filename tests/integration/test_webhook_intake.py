"""POST /webhooks/stripe against the real app under uvicorn, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.web.app import create_app
from tests.support.events import encode, event, signed
from tests.support.servers import serve_in_thread

SECRET = "whsec_current"
ROTATED = "whsec_previous"


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    settings = load_settings(database_url=db_url, stripe_webhook_secrets=[SECRET, ROTATED])
    rt = Runtime.build(settings)
    yield rt
    rt.close()


@pytest.fixture
def url(runtime: Runtime) -> Iterator[str]:
    with serve_in_thread(create_app(runtime, run_worker=False)) as base:
        yield base + "/webhooks/stripe"


def post(url: str, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_valid_signature_is_stored_before_2xx(url: str, runtime: Runtime) -> None:
    body = encode(event("evt_valid", customer="cus_A"))
    response = post(url, body, signed(body, SECRET))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": True,
        "id": "evt_valid",
        "duplicate": False,
        "ignored": False,
    }
    stored = runtime.inbox.get("evt_valid")
    assert stored is not None and stored.state == "pending"
    assert stored.lane == "cus_A"
    assert stored.payload_text == body  # the exact bytes Stripe signed


def test_rotated_secret_is_accepted(url: str, runtime: Runtime) -> None:
    body = encode(event("evt_rotated"))
    assert post(url, body, signed(body, ROTATED)).status_code == 200
    assert runtime.inbox.get("evt_rotated") is not None


@pytest.mark.parametrize(
    ("case", "expected_reason"),
    [
        ("wrong_secret", "no signature matches"),
        ("stale", "s old"),
        ("future", "in the future"),
        ("missing_header", "missing Stripe-Signature"),
        ("tampered", "no signature matches"),
    ],
)
def test_refused_signatures_store_nothing(
    url: str, runtime: Runtime, case: str, expected_reason: str
) -> None:
    body = encode(event(f"evt_{case}"))
    now = int(time.time())
    headers = {
        "wrong_secret": signed(body, "whsec_wrong"),
        "stale": signed(body, SECRET, timestamp=now - 400),
        "future": signed(body, SECRET, timestamp=now + 400),
        "missing_header": {"Content-Type": "application/json"},
        "tampered": signed(body, SECRET),
    }[case]
    sent = body.replace('"livemode":false', '"livemode":true') if case == "tampered" else body
    response = post(url, sent, headers)
    assert response.status_code == 400
    assert expected_reason in response.json()["error"]
    assert runtime.inbox.get(f"evt_{case}") is None
    assert sum(runtime.inbox.counts().values()) == 0


def test_duplicate_delivery_stores_once(url: str, runtime: Runtime) -> None:
    body = encode(event("evt_dup"))
    first = post(url, body, signed(body, SECRET))
    second = post(url, body, signed(body, SECRET))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is True
    assert runtime.inbox.counts()["pending"] == 1


def test_unhandled_type_is_acknowledged_and_recorded_as_ignored(url: str, runtime: Runtime) -> None:
    body = encode(event("evt_other", type="balance.available", customer=None))
    response = post(url, body, signed(body, SECRET))
    assert response.status_code == 200
    assert response.json()["ignored"] is True
    stored = runtime.inbox.get("evt_other")
    assert stored is not None and stored.state == "ignored"


def test_oversized_body_gets_413_and_is_not_stored(url: str, runtime: Runtime) -> None:
    doc = event("evt_big")
    doc["data"]["object"]["description"] = "x" * (1024 * 1024)
    body = encode(doc)
    response = post(url, body, signed(body, SECRET))
    assert response.status_code == 413
    assert runtime.inbox.get("evt_big") is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "evt_x", "object": "charge"}', '"object" must be "event"'),
        ('{"id": "x", "object": "event"}', '"id" must be'),
        ('{"id": "evt_x", "object": "event", "type": "a.b", "created": 1, "data": {}}', "data"),
    ],
)
def test_signed_body_that_is_not_an_event_gets_400(
    url: str, runtime: Runtime, body: str, reason: str
) -> None:
    response = post(url, body, signed(body, SECRET))
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert sum(runtime.inbox.counts().values()) == 0


def test_health_and_readiness(url: str) -> None:
    base = url.removesuffix("/webhooks/stripe")
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    assert httpx.get(base + "/readyz").json() == {"status": "ready"}


@contextmanager
def keyed_app(db_url: str, key: str | None) -> Iterator[tuple[str, Runtime]]:
    settings = load_settings(
        database_url=db_url, stripe_webhook_secrets=[SECRET], stripe_api_key=key
    )
    rt = Runtime.build(settings)
    try:
        with serve_in_thread(create_app(rt, run_worker=False)) as base:
            yield base + "/webhooks/stripe", rt
    finally:
        rt.close()


def live(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "livemode": True}


@pytest.mark.parametrize(
    ("key", "refused_mode", "accepted_mode"),
    [
        ("sk_test_abc", True, False),
        ("rk_test_abc", True, False),
        ("sk_live_abc", False, True),
        ("rk_live_abc", False, True),
        (None, True, False),  # no key: the mode is unknown, live events are refused
    ],
)
def test_event_of_the_other_mode_than_the_key_is_stored_as_refused_and_never_applied(
    db_url: str, key: str | None, refused_mode: bool, accepted_mode: bool
) -> None:
    with keyed_app(db_url, key) as (url, rt):
        other = encode({**event("evt_other_mode", customer="cus_M"), "livemode": refused_mode})
        response = post(url, other, signed(other, SECRET))
        assert response.status_code == 200, response.text  # stored: Stripe must not retry
        assert "refused" in response.json() and "key" in response.json()["refused"]
        row = rt.inbox.row("evt_other_mode")
        assert row is not None and row["state"] == "refused"
        assert row["error_kind"] == "refused.livemode"
        assert row["next_attempt_at"] is None
        assert row["last_error"] == response.json()["refused"]
        assert "mode" in row["last_error"] and "replay" in row["last_error"]
        assert rt.inbox.counts()["refused"] == 1 and rt.inbox.counts()["pending"] == 0
        assert rt.inbox.claim_batch("w", datetime.now(UTC), timedelta(seconds=30), 10, 10) == []

        same = encode({**event("evt_same_mode", customer="cus_M"), "livemode": accepted_mode})
        response = post(url, same, signed(same, SECRET))
        assert response.status_code == 200 and "refused" not in response.json()
        stored = rt.inbox.get("evt_same_mode")
        assert stored is not None and stored.state == "pending"
