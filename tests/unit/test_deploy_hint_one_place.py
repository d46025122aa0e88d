"""One deploy hint everywhere: no message of stripe2sf builds its own deploy or assign command;
they come from `domain.setup.doctor` (the README's commands, `test_doctor_rules` holds them to
it)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "stripe2sf"


def _string_literals(tree: ast.AST) -> list[str]:
    """Every string constant of a module except docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_deploy_commands_are_written_in_one_place() -> None:
    """No message builds its own deploy or assign command: they come from
    `domain.setup.doctor` (the README's)."""
    found = []
    for path in SRC.rglob("*.py"):
        literals = _string_literals(ast.parse(path.read_text(encoding="utf-8")))
        if any("project deploy start" in s or "assign permset" in s for s in literals):
            found.append(path.relative_to(SRC).as_posix())
    assert found == ["domain/setup/doctor.py"]
