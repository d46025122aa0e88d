"""How to reach the running demo: the settings its service used, written to
`WORKDIR/stripe2sf.env`, so `stripe2sf status`, `audit` or `reconcile` can be pointed at it,
and the dashboard's address and credentials on one line.

The file holds one `KEY=value` line per setting, each value quoted for a POSIX shell only when
it needs it, so the same file is read by

    set -a; . var/demo/stripe2sf.env; set +a

(then any `stripe2sf` command in that shell uses the demo's database, sandboxes and login), and,
its values being plain in the usual case, by tools that read `KEY=value` lines.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

ENV_FILE = "stripe2sf.env"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def env_file_text(env: Mapping[str, str]) -> str:
    """The settings as `KEY=value` lines, sorted, values shell-quoted where needed."""
    bad = [name for name in env if not _NAME.match(name)]
    if bad:
        raise ValueError(f"not environment variable names: {', '.join(sorted(bad))}")
    lines = [
        "# The settings the stripe2sf demo's service used (written by `stripe2sf demo`).",
        "# Point stripe2sf at the demo from a POSIX shell with:",
        f"#   set -a; . {ENV_FILE}; set +a    (this file's path)",
        "# then: stripe2sf status, stripe2sf audit, stripe2sf reconcile (while the demo runs).",
    ]
    lines += [f"{name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def write_env_file(workdir: Path, env: Mapping[str, str]) -> Path:
    """Write `workdir/stripe2sf.env` (owner-only: it holds the API key and webhook secret)."""
    path = workdir / ENV_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(env_file_text(env), encoding="utf-8")
    return path


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """The path as the user would type it: relative to the current folder when inside it."""
    here = (cwd or Path.cwd()).resolve()
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(here))
    except ValueError:
        return str(absolute)


def use_instruction(path: Path, cwd: Path | None = None) -> str:
    """The shell line that loads the file into the environment of the current shell."""
    return f"set -a; . {shlex.quote(shown_path(path, cwd))}; set +a"


def dashboard_line(url: str, user: str, password: str) -> str:
    return f"  dashboard           {url}/  user {user}  password {password}"


def print_unwrapped(console: Console, line: str) -> None:
    """One line however narrow the terminal: Rich inserts no line breaks (the terminal may
    still fold it, but a copy of it is whole), and adds no colour or markup."""
    console.print(line, soft_wrap=True, markup=False, highlight=False)
