"""A fresh PostgreSQL database per test, on the server at 127.0.0.1:5432 (trust auth)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_DSN = os.environ.get("STRIPE2SF_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def required() -> bool:
    return os.environ.get("STRIPE2SF_REQUIRE_POSTGRES") == "1" or os.environ.get("CI") == "true"


def available() -> bool:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it afterwards."""
    if not available():
        message = f"PostgreSQL is not reachable at {ADMIN_DSN}"
        if required():
            pytest.fail(message + " (required: STRIPE2SF_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    name = f"stripe2sf_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
