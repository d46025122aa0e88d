"""Processes started together on a new database (serve + workers) migrate it one at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.support.pg import fresh_database


def _upgrade_concurrently(url: str, processes: int = 4) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "STRIPE2SF_DATABASE_URL": url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stripe2sf", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _assert_migrated_once(url: str) -> None:
    engine = create_engine(url)
    try:
        assert {"events", "lanes", "attempts"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert len(list(versions)) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_processes_upgrading_a_new_database_at_once_all_succeed(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'new.db'}"
        results = _upgrade_concurrently(url)
        _assert_migrated_once(url)
    else:
        with fresh_database() as url:
            results = _upgrade_concurrently(url)
            _assert_migrated_once(url)
    failures = [r.stderr[-2000:] for r in results if r.returncode != 0]
    assert failures == []
