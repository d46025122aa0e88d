"""Fixtures for the Salesforce boundary tests: one sandbox org per test session with the SFDX
metadata stripe2sf generates (`stripe2sf metadata`), reset before each test, and Settings that
point stripe2sf at it. Import the fixtures into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.metadata_files import write_metadata as write_metadata_files
from stripe2sf.salesforce import SalesforceClient, connect
from stripe2sf.settings import Settings

SALESFORCE_FIELDS = (
    "salesforce_login_url",
    "salesforce_instance_url",
    "salesforce_username",
    "salesforce_password",
    "salesforce_security_token",
    "salesforce_client_id",
    "salesforce_client_secret",
    "salesforce_jwt_key_file",
    "salesforce_ca_bundle",
)


def write_metadata(directory: Path) -> Path:
    write_metadata_files(directory)
    return directory


def settings_for(sandbox: SandboxServer, mode: str = "soap", **overrides: Any) -> Settings:
    """Settings for one login mode against `sandbox` (every SALESFORCE_* given explicitly, so
    the environment cannot leak in)."""
    values: dict[str, Any] = dict.fromkeys(SALESFORCE_FIELDS)
    values["salesforce_login_url"] = sandbox.instance_url
    values["salesforce_ca_bundle"] = sandbox.ca_path
    if mode in ("soap", "oauth_password"):
        values["salesforce_username"] = sandbox.username
        values["salesforce_password"] = sandbox.password
        values["salesforce_security_token"] = sandbox.security_token
    if mode in ("oauth_password", "client_credentials", "jwt"):
        values["salesforce_client_id"] = sandbox.client_id
    if mode in ("oauth_password", "client_credentials"):
        values["salesforce_client_secret"] = sandbox.client_secret
    if mode == "jwt":
        values["salesforce_username"] = sandbox.username
        assert sandbox.data_dir is None
        key = sandbox.ca_path.parent / "jwt-key.pem"
        key.write_text(sandbox.jwt_private_key, encoding="ascii")
        values["salesforce_jwt_key_file"] = key
    if mode == "session":
        values["salesforce_login_url"] = None
        values["salesforce_instance_url"] = sandbox.instance_url
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def salesforce_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    metadata = write_metadata(tmp_path_factory.mktemp("stripe2sf-metadata"))
    with run_sandbox(metadata=[metadata]) as server:
        yield server


@pytest.fixture
def org(salesforce_org: SandboxServer) -> SandboxServer:
    salesforce_org.reset()
    return salesforce_org


@pytest.fixture
def client(org: SandboxServer) -> Iterator[SalesforceClient]:
    with connect(settings_for(org), bulk_poll_interval=0.05) as c:
        yield c


def count(client: SalesforceClient, sobject: str, where: str = "") -> int:
    rows = client.query_all(f"SELECT Id FROM {sobject} {where}".strip())
    return len(rows)
