"""Run the official Salesforce CLI (``sf``, pinned in tools/sf-cli) against a Salesforce
sandbox, isolated from the machine: its own HOME (the CLI keeps auth files, config, caches and
logs there), no telemetry, no update or release-notes checks, the sandbox CA trusted through
NODE_EXTRA_CA_CERTS.

    cli = SfCli.for_sandbox(tmp_path, sandbox)        # skips the test if sf is not installed
    cli.login(sandbox, alias="sbx")                   # sf org login access-token
    result = cli.json("org", "display", "--target-org", "sbx")   # the parsed ``result``
    text = cli.text("data", "query", "--query", "SELECT ...", "--result-format", "csv", ...)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

ROOT = Path(__file__).resolve().parents[2]
SF_BIN = ROOT / "tools" / "sf-cli" / "node_modules" / ".bin" / "sf"
TIMEOUT = 120


class SandboxLike(Protocol):
    @property
    def instance_url(self) -> str: ...

    @property
    def ca_path(self) -> Path: ...

    @property
    def access_token(self) -> str | None: ...


class SfCliError(AssertionError):
    """A CLI command exited non-zero; ``status`` and ``payload`` hold its --json answer."""

    def __init__(self, args: list[str], status: int, payload: Any, output: str) -> None:
        message = payload.get("message") if isinstance(payload, dict) else None
        super().__init__(f"sf {' '.join(args)} exited {status}: {message or output[-2000:]}")
        self.status = status
        self.payload = payload


def sf_binary() -> Path:
    """The CLI, or skip the test with the reason (``make sfcli`` installs it with npm)."""
    if not SF_BIN.exists():
        pytest.skip(
            f"the Salesforce CLI is not installed at {SF_BIN.relative_to(ROOT)} "
            "(`make sfcli` runs npm ci in tools/sf-cli; npm unreachable?)"
        )
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the Salesforce CLI cannot run")
    return SF_BIN


def isolated_env(home: Path, ca_path: Path) -> dict[str, str]:
    """Environment for one CLI home: nothing inherited but PATH and the locale."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{SF_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "NODE_EXTRA_CA_CERTS": str(ca_path),
        "SF_DISABLE_TELEMETRY": "true",
        "SF_AUTOUPDATE_DISABLE": "true",
        # what @oclif/plugin-update's init hook reads: without it each command may leave an
        # `sf update --autoupdate` process running after the tests (nine after one CI run)
        "SF_DISABLE_AUTOUPDATE": "true",
        "SF_USE_PROGRESS_BAR": "false",
        "SF_HIDE_RELEASE_NOTES": "true",
        "SF_SKIP_NEW_VERSION_CHECK": "true",
        "SF_DISABLE_DNS_CHECK": "true",
        "SF_DISABLE_LOG_FILE": "true",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    for name in ("LANG", "LC_ALL", "TZ"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@dataclass
class SfCli:
    binary: Path
    env: dict[str, str]
    cwd: Path

    @classmethod
    def for_sandbox(cls, directory: Path, sandbox: SandboxLike) -> SfCli:
        """A CLI with its HOME under ``directory`` trusting ``sandbox``'s CA (skips without
        the CLI)."""
        binary = sf_binary()
        work = directory / "work"
        work.mkdir(parents=True, exist_ok=True)
        return cls(binary, isolated_env(directory / "home", sandbox.ca_path), work)

    def run(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            env={**self.env, **(env or {})},
            cwd=cwd or self.cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def json(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
        """Run with ``--json``; the ``result`` on status 0, else SfCliError."""
        command = [*args, "--json"]
        done = self.run(*command, env=env, cwd=cwd)
        try:
            payload = json.loads(done.stdout)
        except ValueError:
            raise SfCliError(command, done.returncode, None, done.stdout + done.stderr) from None
        if done.returncode != 0 or payload.get("status") != 0:
            raise SfCliError(command, done.returncode, payload, done.stdout + done.stderr)
        return payload.get("result")

    def error(self, *args: str, cwd: Path | None = None) -> dict[str, Any]:
        """Run with ``--json`` a command expected to fail; its error payload."""
        try:
            self.json(*args, cwd=cwd)
        except SfCliError as failed:
            if isinstance(failed.payload, dict):
                return failed.payload
            raise
        raise AssertionError(f"sf {' '.join(args)} succeeded")

    def text(self, *args: str, cwd: Path | None = None) -> str:
        """Run for its human/CSV output (stdout); SfCliError on a non-zero exit."""
        done = self.run(*args, cwd=cwd)
        if done.returncode != 0:
            raise SfCliError(list(args), done.returncode, None, done.stdout + done.stderr)
        return done.stdout

    def login(self, sandbox: SandboxLike, alias: str) -> dict[str, Any]:
        """``sf org login access-token`` with the sandbox's static admin token."""
        assert sandbox.access_token, "the sandbox has no static access token"
        result: dict[str, Any] = self.json(
            "org",
            "login",
            "access-token",
            "--instance-url",
            sandbox.instance_url,
            "--no-prompt",
            "--alias",
            alias,
            env={"SF_ACCESS_TOKEN": sandbox.access_token},
        )
        return result
