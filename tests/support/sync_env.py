"""Both sandboxes, stripe2sf's app with its worker, wired together over loopback."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe
from simple_salesforce import Salesforce

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.metadata_files import write_metadata as write_metadata_files
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.web.app import create_app
from stripe_sandbox.testing import RunningSandbox
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.support.servers import serve_in_thread


@dataclass
class SyncEnv:
    stripe: RunningSandbox
    salesforce: SandboxServer
    runtime: Runtime
    url: str
    sf: Salesforce

    @property
    def client(self) -> stripe.StripeClient:
        return self.stripe.client()

    def drain(self, timeout: float = 60) -> dict[str, int]:
        """Until Stripe delivered everything and the inbox has nothing pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.stripe.wait_idle(timeout=20)
            counts = self.runtime.inbox.counts()
            if counts["pending"] == 0 and self.stripe.wait_idle(timeout=5):
                time.sleep(0.3)
                if self.runtime.inbox.counts()["pending"] == 0:
                    return self.runtime.inbox.counts()
            time.sleep(0.1)
        raise AssertionError(f"not drained: {self.runtime.inbox.counts()}")

    def query(self, soql: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.sf.query_all(soql)["records"]
        return records


def write_metadata(target: Path) -> Path:
    write_metadata_files(target)
    return target


@contextmanager
def sync_env(
    db_url: str,
    *,
    run_worker: bool = True,
    stripe_account_version: str | None = None,
    salesforce: Mapping[str, Any] | None = None,
    duplicate_rules: str | Mapping[str, str] | None = None,
    org_rules: Mapping[str, str] | None = None,
    **settings: Any,
) -> Iterator[SyncEnv]:
    """`run_worker=False`: webhooks are stored, and the test applies them itself.
    `stripe_account_version`: the Stripe account's default API version and its webhook
    endpoint's `api_version` (events in that version's shape); stripe2sf's reads follow the
    `stripe_api_version` setting (default: the SDK's pinned version).
    `salesforce`: options of the Salesforce sandbox (`salesforce_sandbox.config.Settings`),
    e.g. the kind of org: `{"features": ["multi-currency"], "currencies": ["USD", "EUR"]}`.
    `duplicate_rules`: `"standard"` turns on Salesforce's standard Account and Contact duplicate
    rules; a mapping of SFDX source files (path -> XML) deploys those rules.
    `org_rules`: SFDX source files of validation rules, fields and record types deployed to the
    org (`tests.support.org_rules.ORG_RULES`)."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sync-env-")))
        metadata = write_metadata(tmp / "metadata")
        sf_box = stack.enter_context(run_salesforce(metadata=[metadata], **(salesforce or {})))
        if duplicate_rules == "standard":
            sf_box.enable_standard_duplicate_rules()
        elif duplicate_rules is not None and not isinstance(duplicate_rules, str):
            sf_box.deploy_files(dict(duplicate_rules))
        if org_rules:
            sf_box.deploy_files(dict(org_rules))
        stripe_box = stack.enter_context(run_stripe(api_version=stripe_account_version))
        config = load_settings(
            database_url=db_url,
            stripe_api_key=stripe_box.api_key,
            stripe_api_base=stripe_box.api_base,
            salesforce_login_url=sf_box.instance_url,
            salesforce_username=sf_box.username,
            salesforce_password=sf_box.password,
            salesforce_security_token=sf_box.security_token,
            salesforce_ca_bundle=sf_box.ca_path,
            retry_base_seconds=0.2,
            stripe_webhook_secrets=["whsec_placeholder"],
            **settings,
        )
        runtime = Runtime.build(config)
        stack.callback(runtime.close)
        url = stack.enter_context(serve_in_thread(create_app(runtime, run_worker=run_worker)))
        endpoint_params: dict[str, Any] = {
            "url": url + "/webhooks/stripe",
            "enabled_events": sorted(HANDLED_TYPES),
        }
        if stripe_account_version is not None:
            endpoint_params["api_version"] = stripe_account_version
        endpoint = stripe_box.client().v1.webhook_endpoints.create(endpoint_params)  # type: ignore[arg-type]
        runtime.settings.stripe_webhook_secrets = [str(endpoint.secret)]
        yield SyncEnv(stripe_box, sf_box, runtime, url, sf_box.salesforce())
