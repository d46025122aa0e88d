"""Bulk seeding through the control plane, and the ``stripe-sandbox`` console script."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import stripe

from stripe_sandbox.testing import TEST_KEY, RunningSandbox
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_shapes import conformance

SCRIPT = Path(sys.executable).parent / "stripe-sandbox"

# fixtures (bound by assignment so that test arguments may share their names)
client = support.client
sb = support.sb
stripe_server = support.stripe_server


def test_seed_then_list_everything(sb: RunningSandbox, client: stripe.StripeClient) -> None:
    result = sb.seed(
        customers=120, charges_per_customer=3, subscriptions_per_customer=1, random_seed=7
    )
    assert result["customers"] == 120 and result["charges"] == 360
    assert result["subscriptions"] == 120
    charges = list(client.v1.charges.list({"limit": 100}).auto_paging_iter())
    assert len(charges) == 360 and len({c.id for c in charges}) == 360
    assert [c.created for c in charges] == sorted((c.created for c in charges), reverse=True)
    assert len(list(client.v1.customers.list({"limit": 100}).auto_paging_iter())) == 120
    subs = list(client.v1.subscriptions.list({"limit": 100}).auto_paging_iter())
    assert len(subs) == 120 and {s.status for s in subs} == {"active"}
    customer = client.v1.customers.list({"limit": 1}).data[0]
    mine = client.v1.charges.list({"customer": customer.id})
    assert len(mine.data) == 3
    for obj in (customer, charges[0], subs[0], client.v1.invoices.list().data[0]):
        assert (
            conformance(
                obj.to_dict_recursive() if hasattr(obj, "to_dict_recursive") else obj.to_dict()
            )
            == []
        )
    stats = sb.stats()
    assert stats["objects"]["charge"] == 360


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        assert proc.poll() is None, "stripe-sandbox exited"
        try:
            with urllib.request.urlopen(f"{base}/_sandbox/health", timeout=1) as resp:
                assert json.loads(resp.read())["ok"] is True
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("stripe-sandbox did not start")


def test_help_documents_the_defaults() -> None:
    out = subprocess.run(
        [str(SCRIPT), "--help"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    out = " ".join(out.split())
    for text in (
        "--host",
        "127.0.0.1",
        "--port",
        "8702",
        "--data",
        "in memory",
        "--dunning-retry-days",
        "3,5,7",
        "--webhook-retry-base",
    ):
        assert text in out


def test_console_script_keeps_state_in_its_data_dir(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    args = [str(SCRIPT), "--port", str(port), "--data", str(tmp_path), "--log-level", "warning"]
    proc = subprocess.Popen(args)
    try:
        _wait_up(base, proc)
        sdk = stripe.StripeClient(TEST_KEY, base_addresses={"api": base})
        customer = sdk.v1.customers.create({"email": "kept@example.com"})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "stripe-sandbox.sqlite3").exists()
    proc = subprocess.Popen(args)
    try:
        _wait_up(base, proc)
        sdk = stripe.StripeClient(TEST_KEY, base_addresses={"api": base})
        assert sdk.v1.customers.retrieve(customer.id).email == "kept@example.com"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
