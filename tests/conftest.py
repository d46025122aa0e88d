"""Shared fixtures: database URLs (SQLite and PostgreSQL), settings, a running stripe2sf app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pg import fresh_database
from tests.support.smtp import Mailbox, smtp_server

# `browser` and `page`: Debian's chromium through Playwright, for the dashboard's browser tests
pytest_plugins = ["tests.support.browser"]

# Lanes are due as soon as an event is stored: tests apply what they deliver at once. The batch
# linger (STRIPE2SF_BATCH_LINGER_MS, 1 s by default) has its own tests, which set it.
os.environ.setdefault("STRIPE2SF_BATCH_LINGER_MS", "0")
# Demos started by tests take any free port: tests run side by side (pytest-xdist).
os.environ.setdefault("STRIPE2SF_DEMO_ANY_PORT", "1")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'stripe2sf.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stripe2sf.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on loopback that keeps the alerts it receives."""
    with smtp_server() as box:
        yield box
