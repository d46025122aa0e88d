"""`stripe2sf plan` on an event's data part (--type; its help and errors name only options that
exist) and `stripe2sf metadata` telling the README's deploy and assign commands, as processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stripe2sf.domain.setup.doctor import assign_command, deploy_command
from tests.support.procs import clean_env

CLI = [sys.executable, "-m", "stripe2sf"]
DATA_PART = {"object": {"id": "in_1", "object": "invoice", "customer": "cus_1", "attempt_count": 1}}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    return subprocess.run(
        [*CLI, *args],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_plan_of_a_data_part_needs_and_takes_type(tmp_path: Path) -> None:
    event = tmp_path / "data.json"
    event.write_text(json.dumps(DATA_PART), encoding="utf-8")
    refused = run("plan", str(event), cwd=tmp_path)
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 2, said
    assert 'it has no "type": give the whole event as Stripe sends it, or pass --type' in said
    assert "event_type" not in said

    planned = run("plan", str(event), "--type", "invoice.payment_failed", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("Plan for invoice.payment_failed")
    assert "UPSERT Task by Stripe_Dedupe_Key__c = in_1:1" in planned.stdout


def test_plan_help_names_the_options_that_exist(tmp_path: Path) -> None:
    helped = run("plan", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    text = " ".join(helped.stdout.split())
    assert "--type" in text and "data part" in text and "event_type" not in text


def test_metadata_tells_the_readmes_deploy_commands(tmp_path: Path) -> None:
    out = tmp_path / "sf-metadata"
    done = run("metadata", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert f"`{deploy_command(str(out))}`" in text
    assert f"`{assign_command('<integration user>')}`" in text
    assert (out / "force-app").is_dir()
