"""CLI start-up stays light (issue #16): `stripe2sf --help` loads none of the heavy libraries,
and `stripe2sf status` only what reading the database needs, so they start in a fraction of a
second (the CPU figure is bench/cli_startup.py's; no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stripe2sf import cli_history
from stripe2sf.domain.backfill.plan import DEFAULT_JOB_SIZE
from tests.support.procs import clean_env

# Runs the real entry point (`stripe2sf.cli:main`, as the console script does) with the given
# arguments, then prints which modules of interest the process loaded.
PROBE = """
import json, sys
watched = json.loads(sys.argv[2])
sys.argv = ["stripe2sf", *json.loads(sys.argv[1])]
from stripe2sf.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
print("\\nLOADED " + json.dumps({"code": code, "loaded": [m for m in watched if m in sys.modules]}))
"""

# What a command that only reads the database never needs.
SERVICES = ["fastapi", "uvicorn", "starlette", "alembic", "grpc", "prometheus_client"]
CLIENTS = ["stripe", "simple_salesforce", "httpx", "requests", "structlog"]
HEAVY = ["sqlalchemy", "pydantic", "pydantic_settings", "stripe2sf.runtime", *SERVICES, *CLIENTS]


def loaded(args: list[str], watched: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(watched)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED "), result.stdout + result.stderr
    doc = json.loads(last.removeprefix("LOADED "))
    return doc["code"], doc["loaded"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No Stripe or Salesforce configured; a database of its own."""
    return {**clean_env(), "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path}/stripe2sf.db"}


@pytest.mark.parametrize(
    "args", [["--help"], ["serve", "--help"], ["backfill", "--help"], ["db", "--help"]], ids=str
)
def test_help_loads_no_heavy_library(args: list[str], env: dict[str, str]) -> None:
    code, heavy = loaded(args, HEAVY, env)
    assert code == 0
    watched_heavy = [m for m in heavy if m != "pydantic"]  # Typer parses options with pydantic
    assert watched_heavy == [], f"`stripe2sf {' '.join(args)}` imported {watched_heavy}"
    if args == ["--help"]:
        assert heavy == []


def test_status_loads_only_what_reading_the_database_needs(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "stripe2sf", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    code, heavy = loaded(["status", "--json"], HEAVY, env)
    assert code == 0
    assert "sqlalchemy" in heavy, "the probe sees what status imports"
    unneeded = [m for m in heavy if m in (*SERVICES, *CLIENTS, "stripe2sf.runtime")]
    assert unneeded == [], f"`stripe2sf status` imported {unneeded}"


def test_backfill_default_job_size_is_the_planners() -> None:
    """cli_history writes the planner's default out so that --help need not import it."""
    assert cli_history.DEFAULT_JOB_SIZE == DEFAULT_JOB_SIZE
