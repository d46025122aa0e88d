"""domain/ is pure: it imports no I/O library (DESIGN.md boundaries)."""

from __future__ import annotations

import ast
from pathlib import Path

import stripe2sf.domain
from tests.support.import_graph import PACKAGES, imports_by_module

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


def _in_domain(module: str) -> bool:
    return module == "stripe2sf.domain" or module.startswith("stripe2sf.domain.")


def test_domain_imports_nothing_of_ours_outside_domain() -> None:
    """No I/O library comes in through another package of ours either (store/ would bring
    SQLAlchemy, salesforce/ requests): relative and function-level imports count too."""
    outside = [
        f"{module} imports {name} (line {line})"
        for module, name, line in imports_by_module()
        if _in_domain(module) and name.split(".")[0] in PACKAGES and not _in_domain(name)
    ]
    assert not outside, "\n".join(outside)
