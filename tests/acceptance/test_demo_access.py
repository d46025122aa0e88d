"""Reaching the demo (issue #16): the settings its service used, written as `stripe2sf.env`,
load in a shell with the line the demo prints, and `stripe2sf status` then reads the demo's
database; the dashboard's credentials print on one line on a narrow terminal.

The demo itself (tests/acceptance/test_demo.py) is too slow to run again for this: these
tests drive the functions the demo calls, and the CLI as a process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from stripe2sf.demo.access import (
    ENV_FILE,
    dashboard_line,
    env_file_text,
    print_unwrapped,
    use_instruction,
    write_env_file,
)
from stripe2sf.web.dashboard.auth import hash_password
from tests.support.procs import clean_env

CLI = f"{sys.executable} -m stripe2sf"


def demo_like_env(tmp_path: Path) -> dict[str, str]:
    """Settings shaped as the demo's (run.service_env), with values a shell would mangle
    unquoted: a space in every path, `$` in the dashboard users' password hash."""
    data = tmp_path / "my demo" / "salesforce"
    return {
        "STRIPE_API_KEY": "sk_test_stripe2sf_demo_0000000000",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_WEBHOOK_SECRET": "whsec_0123456789abcdef",
        "SALESFORCE_LOGIN_URL": "https://127.0.0.1:9",
        "SALESFORCE_USERNAME": "integration@sandbox.example.com",
        "SALESFORCE_CLIENT_ID": "3MVG9demo",
        "SALESFORCE_JWT_KEY_FILE": str(data / "jwt.key"),
        "SALESFORCE_CA_BUNDLE": str(data / "ca.pem"),
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path / 'my demo' / 'stripe2sf.db'}",
        "STRIPE2SF_RETRY_BASE_SECONDS": "1",
        "STRIPE2SF_DASHBOARD_USERS": f"demo:operator:{hash_password('pw')}",
    }


def shell_env() -> dict[str, str]:
    """The user's shell before loading the file: no Stripe or Salesforce settings."""
    return clean_env()


def sh(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", line], env=shell_env(), cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_printed_line_loads_every_setting_unchanged(tmp_path: Path) -> None:
    settings = demo_like_env(tmp_path)
    workdir = tmp_path / "my demo"
    workdir.mkdir()
    path = write_env_file(workdir, settings)
    assert path == workdir / ENV_FILE
    assert path.stat().st_mode & 0o077 == 0, "it holds the API key: the owner's only"
    dump = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    loaded = sh(f"{use_instruction(path, tmp_path)}; {dump}", tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    environ = json.loads(loaded.stdout)
    assert {k: environ.get(k) for k in settings} == settings


def test_status_pointed_at_the_demo_through_the_file(tmp_path: Path) -> None:
    settings = demo_like_env(tmp_path)
    workdir = tmp_path / "my demo"
    workdir.mkdir()
    path = write_env_file(workdir, settings)
    upgrade = sh(f"{use_instruction(path, tmp_path)}; {CLI} db upgrade", tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    # elsewhere, without the file, status finds no database there and refuses
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert sh(f"{CLI} status --json", elsewhere).returncode == 2
    status = sh(f". '{path}'; set +a; {CLI} status --json", elsewhere)
    assert status.returncode == 2, "without set -a the settings stay in the shell"
    status = sh(f"{use_instruction(path, elsewhere)}; {CLI} status --json", elsewhere)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout.splitlines()[-1])
    assert report["inbox"]["pending"] == 0
    assert f"database: {settings['STRIPE2SF_DATABASE_URL']}" in status.stderr


def test_the_file_names_its_use_and_refuses_bad_names(tmp_path: Path) -> None:
    text = env_file_text({"B": "2", "A": "1"})
    assert "set -a; . stripe2sf.env; set +a" in text
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["A=1", "B=2"]
    try:
        env_file_text({"NOT A NAME": "x"})
    except ValueError as exc:
        assert "NOT A NAME" in str(exc)
    else:
        raise AssertionError("a name with spaces was written")


def test_dashboard_credentials_on_one_line_on_a_narrow_terminal() -> None:
    url, user, password = "http://127.0.0.1:8700", "demo", "Xy-3_kL9pQ2mW8zR"
    line = dashboard_line(url, user, password)

    wrapped = io.StringIO()
    Console(file=wrapped, width=40).print(line)
    assert len(wrapped.getvalue().splitlines()) > 1, "a plain print wraps it (the bug)"

    out = io.StringIO()
    print_unwrapped(Console(file=out, width=40), line)
    [printed] = out.getvalue().splitlines()
    assert f"{url}/" in printed and f"user {user}" in printed
    assert printed.endswith(f"password {password}")
