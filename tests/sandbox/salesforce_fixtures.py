"""Fixtures for the Salesforce sandbox tests: one in-process server per session (metadata from
``data/sfdx_example`` deployed), reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from salesforce_sandbox.testing import SandboxServer, run_sandbox

SFDX_EXAMPLE = Path(__file__).parent / "data" / "sfdx_example"


@pytest.fixture(scope="session")
def salesforce_server() -> Iterator[SandboxServer]:
    with run_sandbox(metadata=[SFDX_EXAMPLE]) as server:
        yield server


@pytest.fixture
def sandbox(salesforce_server: SandboxServer) -> SandboxServer:
    salesforce_server.reset()
    return salesforce_server


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return sandbox.salesforce()
