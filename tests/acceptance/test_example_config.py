"""examples/stripe2sf.toml: `stripe2sf config check` accepts it (as a process, as a user runs
it), it comments every table of the sync configuration and names every setting of each, and
what it says is what stripe2sf reads. README points at it and at docs/mapping.md."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from pydantic import BaseModel

from stripe2sf.domain.config import SyncConfig, from_mapping
from stripe2sf.settings import load_settings
from tests.support.procs import clean_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "stripe2sf.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
LINES = TEXT.splitlines()


def test_config_check_accepts_the_example(tmp_path: Path) -> None:
    env = clean_env()
    done = subprocess.run(
        [sys.executable, "-m", "stripe2sf", "config", "check"],
        env={**env, "STRIPE2SF_CONFIG": str(EXAMPLE)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"configuration OK ({EXAMPLE})" in " ".join(done.stdout.split())


def _header_line(table: str) -> int:
    pattern = re.compile(rf"^\[\[?{re.escape(table)}\]\]?\s*(#.*)?$")
    found = [i for i, line in enumerate(LINES) if pattern.match(line)]
    assert found, f"[{table}] is not in {EXAMPLE.name}"
    return found[0]


def test_every_table_is_there_and_commented() -> None:
    tables = [name for name in SyncConfig.model_fields if name != "replace_default_mappings"]
    for table in [*tables, "settings"]:
        at = _header_line(table)
        comment = LINES[at - 1]
        assert comment.startswith("# "), f"[{table}] has no comment above it"
    assert re.search(r"^replace_default_mappings = (true|false)$", TEXT, flags=re.M)


def test_every_setting_of_every_table_is_named() -> None:
    """Set, or shown commented out (`# key = ...`) with its meaning."""
    for table, info in SyncConfig.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key in model.model_fields:
            assert re.search(rf"^(# )?{key} = ", TEXT, flags=re.M), f"[{table}] {key}"


def test_what_the_file_says_is_what_stripe2sf_reads() -> None:
    doc = tomllib.loads(TEXT)
    doc.pop("settings")  # read by load_settings, as runtime.load_sync_config does
    config = from_mapping(doc)
    assert config.failed_payments.record == "case" and config.failed_payments.queue
    assert config.matching.by_domain and config.record_types == {"Case": "Billing"}
    assert config.owner_of("Account", "Phone") == "create_only"
    targets = {m.target: m for m in config.effective_mappings}
    assert targets["Account.Segment__c"].source == "customer.metadata.segment"
    assert targets["Account.Trial_End__c"].effective_transform == "date"
    status = targets["Account.Subscription_Status__c"]
    assert status.values is not None and status.values["past_due"] == "Past Due"
    assert config.salesforce_to_stripe.fields["phone"] == "Contact.MobilePhone"
    assert config.actions.quantity_field == "Seats__c"
    settings = load_settings(config_path=EXAMPLE)
    assert settings.public_url == "https://stripe2sf.example.com"
    assert settings.database_url.startswith("postgresql://")


def test_readme_points_at_the_example_and_the_mapping_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "examples/stripe2sf.toml" in readme and "docs/mapping.md" in readme
