"""domain/ is pure: it imports no I/O library (DESIGN.md boundaries)."""

from __future__ import annotations

import ast
from pathlib import Path

import stripe2sf.domain

FORBIDDEN = {
    "requests",
    "httpx",
    "sqlalchemy",
    "alembic",
    "simple_salesforce",
    "stripe",
    "psycopg",
    "socket",
    "urllib.request",
    "http",
    "subprocess",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiohttp",
    "smtplib",
    "sqlite3",
    "shutil",
    "tempfile",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_no_io_library() -> None:
    root = Path(stripe2sf.domain.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert name not in FORBIDDEN and top not in FORBIDDEN, f"{path.name} imports {name}"


def test_domain_does_no_file_io() -> None:
    root = Path(stripe2sf.domain.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{path.name} opens a file"
