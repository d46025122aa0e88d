"""Both sandboxes for backfill and reconcile tests: started once per module, reset per test."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.config import SyncConfig, from_mapping
from stripe2sf.engine.backfill import Backfill, BackfillOptions, BackfillResult, Progress
from stripe2sf.runtime import Runtime
from stripe2sf.salesforce.client import SalesforceClient, connect
from stripe2sf.settings import Settings, load_settings
from stripe_sandbox.testing import RunningSandbox
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.support.procs import clean_env
from tests.support.sync_env import write_metadata

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Boxes:
    salesforce: SandboxServer
    stripe: RunningSandbox


@contextmanager
def sandboxes() -> Iterator[Boxes]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="history-")))
        metadata = write_metadata(tmp / "metadata")
        sf = stack.enter_context(run_salesforce(metadata=[metadata]))
        st = stack.enter_context(run_stripe())
        yield Boxes(sf, st)


def settings_for(boxes: Boxes, db_url: str, **overrides: Any) -> Settings:
    return load_settings(
        database_url=db_url,
        stripe_api_key=boxes.stripe.api_key,
        stripe_api_base=boxes.stripe.api_base,
        salesforce_login_url=boxes.salesforce.instance_url,
        salesforce_username=boxes.salesforce.username,
        salesforce_password=boxes.salesforce.password,
        salesforce_security_token=boxes.salesforce.security_token,
        salesforce_ca_bundle=boxes.salesforce.ca_path,
        **overrides,
    )


def env_for(boxes: Boxes, db_url: str) -> dict[str, str]:
    """Environment of a `stripe2sf` process talking to these sandboxes."""
    keep = clean_env()
    return {
        **keep,
        "PYTHONPATH": str(ROOT),
        "STRIPE_API_KEY": boxes.stripe.api_key,
        "STRIPE_API_BASE": boxes.stripe.api_base,
        "SALESFORCE_LOGIN_URL": boxes.salesforce.instance_url,
        "SALESFORCE_USERNAME": boxes.salesforce.username,
        "SALESFORCE_PASSWORD": boxes.salesforce.password,
        "SALESFORCE_SECURITY_TOKEN": boxes.salesforce.security_token,
        "SALESFORCE_CA_BUNDLE": str(boxes.salesforce.ca_path),
        "STRIPE2SF_DATABASE_URL": db_url,
    }


CLI = [sys.executable, "-m", "stripe2sf"]


def small_bulk_config(threshold: int = 50) -> SyncConfig:
    """Bulk API 2.0 from `threshold` records, so small tests exercise both write paths."""
    return from_mapping({"sync": {"bulk_threshold": threshold}})


@dataclass
class Parts:
    runtime: Runtime
    salesforce: SalesforceClient
    config: SyncConfig

    def backfill(
        self, options: BackfillOptions, progress: Progress | None = None
    ) -> BackfillResult:
        reader = self.runtime.stripe_reader()
        assert reader is not None
        return Backfill(
            self.runtime.engine, reader, self.salesforce, self.config, options, progress
        ).run()

    def close(self) -> None:
        self.salesforce.close()
        self.runtime.close()


def parts(settings: Settings, config: SyncConfig | None = None) -> Parts:
    runtime = Runtime.build(settings, registry=None)
    return Parts(runtime, connect(settings, bulk_poll_interval=0.2), config or small_bulk_config())


def records(boxes: Boxes, sobject: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = boxes.salesforce.control_call("GET", f"records/{sobject}")[
        "records"
    ]
    return rows
