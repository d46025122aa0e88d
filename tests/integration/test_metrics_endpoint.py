"""/metrics scraped from the real app under uvicorn and parsed with prometheus-client's parser."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.web.app import create_app
from tests.support.events import encode, event, signed
from tests.support.servers import serve_in_thread

SECRET = "whsec_metrics"


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(base + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    rt = Runtime.build(load_settings(database_url=sqlite_url, stripe_webhook_secrets=[SECRET]))
    yield rt
    rt.close()


def test_metrics_count_webhooks_events_and_state(runtime: Runtime) -> None:
    with serve_in_thread(create_app(runtime, run_worker=False)) as base:
        before = scrape(base)
        url = base + "/webhooks/stripe"
        good = encode(event("evt_m1", customer="cus_M"))
        ignored = encode(event("evt_m2", type="balance.available", customer=None))
        for body in (good, good, ignored):
            assert httpx.post(url, content=body, headers=signed(body, SECRET)).status_code == 200
        assert httpx.post(url, content=good, headers=signed(good, "whsec_x")).status_code == 400
        assert httpx.post(url, content=b"{}", headers=signed("{}", SECRET)).status_code == 400

        pending = scrape(base)
        assert value(pending, "stripe2sf_inbox_depth") == 1
        assert value(pending, "stripe2sf_inbox_events", state="ignored") == 1

        worker = runtime.worker()
        assert worker.run_once()
        after = scrape(base)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("stripe2sf_webhooks_received_total", outcome="stored") == 1
    assert delta("stripe2sf_webhooks_received_total", outcome="duplicate") == 1
    assert delta("stripe2sf_webhooks_received_total", outcome="ignored") == 1
    assert delta("stripe2sf_webhooks_received_total", outcome="bad_signature") == 1
    assert delta("stripe2sf_webhooks_received_total", outcome="not_an_event") == 1
    assert delta("stripe2sf_events_processed_total", type="charge.succeeded", outcome="done") == 1
    assert delta("stripe2sf_sync_latency_seconds_count", type="charge.succeeded") == 1
    assert value(after, "stripe2sf_inbox_depth") == 0
    assert value(after, "stripe2sf_inbox_events", state="done") == 1
    assert value(after, "stripe2sf_dead_letters") == 0
    assert value(after, "stripe2sf_inbox_lag_seconds") == 0
    assert ("stripe2sf_stripe_calls_total", ()) in after
