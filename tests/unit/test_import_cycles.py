"""No import cycles in src/, and the package boundaries of DESIGN.md hold.

The import graph (tests/support/import_graph.py) is built statically, so it sees every import
wherever it is written: module level, inside `if TYPE_CHECKING:`, inside functions. An import
deferred into a function only to dodge a cycle is still a cycle here; fix it by putting things
where they belong (a shared types/protocol module, the function moved to the module that owns
it, dependency injection), not by hiding the import.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tests.support.import_graph import (
    PACKAGES,
    Import,
    cycles,
    describe,
    import_graph,
    imports_by_module,
    path_between,
    without,
)

SANDBOXES = ("salesforce_sandbox", "stripe_sandbox")

# Import edges (importer, imported) that close a cycle which is known and not fixed yet. Each
# must still exist and still close a cycle (test_known_cycles_are_still_there), so this list
# only shrinks: delete an entry once its cycle is gone.
KNOWN_CYCLES: frozenset[tuple[str, str]] = frozenset(
    {
        # domain/ is being regrouped by capability (Step 9): config's field limits come from
        # schema, and schema reads the configured object names from config.
        ("stripe2sf.domain.config", "stripe2sf.domain.setup.schema"),
    }
)

# Modules outside store/ that import SQLAlchemy, still to move behind store/ (Step 9 engine
# rewrite). Checked the same way: each must still import it.
KNOWN_SQLALCHEMY_USERS: frozenset[str] = frozenset(
    {
        "stripe2sf.engine.backfill",
        "stripe2sf.engine.reconcile",
    }
)


@cache
def _graph() -> dict[str, list[Import]]:
    return import_graph()


# -- the checks ----------------------------------------------------------------------------------


def test_the_graph_sees_every_kind_of_import() -> None:
    """Sanity: the real tree is read (the kinds of import: test_finds_a_cycle_of_any_kind)."""
    graph = _graph()
    assert len(graph) > 150

    def edges(name: str) -> set[str]:
        return {e.imported for e in graph[name]}

    assert "stripe2sf.salesforce.client" in edges("stripe2sf.salesforce")
    assert "salesforce_sandbox.soql.binder" in edges("salesforce_sandbox.soql")


def test_no_import_cycles() -> None:
    found = cycles(without(_graph(), KNOWN_CYCLES))
    assert not found, "import cycles (see this test's docstring for how to fix one):\n" + "\n".join(
        describe(c) for c in found
    )


def test_known_cycles_are_still_there() -> None:
    """An allowed edge that no longer closes a cycle must leave KNOWN_CYCLES."""
    graph = _graph()
    for importer, imported in sorted(KNOWN_CYCLES):
        assert any(e.imported == imported for e in graph[importer]), (
            f"{importer} no longer imports {imported}: remove it from KNOWN_CYCLES"
        )
        assert path_between(graph, imported, importer) is not None, (
            f"{importer} -> {imported} no longer closes a cycle: remove it from KNOWN_CYCLES"
        )


def test_finds_a_cycle_of_any_kind(tmp_path: Path) -> None:
    """The detector itself: cycles through a relative import, a submodule import, a
    function-level import and a TYPE_CHECKING import are found and named."""
    pkg = tmp_path / "stripe2sf"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from stripe2sf.sub import c\n")
    (pkg / "sub" / "c.py").write_text("import stripe2sf.a\n")
    (pkg / "d.py").write_text("from stripe2sf import a\n")
    (pkg / "e.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    from . import f\n")
    (pkg / "f.py").write_text("from stripe2sf.e import thing\n")
    for sandbox in SANDBOXES:
        (tmp_path / sandbox).mkdir()
        (tmp_path / sandbox / "__init__.py").write_text("")
    found = cycles(import_graph(tmp_path))
    assert sorted(describe(c) for c in found) == [
        "stripe2sf.a (line 1) -> stripe2sf.sub.b (line 2) -> stripe2sf.sub.c (line 1) -> "
        "stripe2sf.a",
        "stripe2sf.e (line 3) -> stripe2sf.f (line 1) -> stripe2sf.e",
    ]


# -- boundaries (DESIGN.md) ----------------------------------------------------------------------


def test_stripe2sf_and_the_sandboxes_never_import_each_other() -> None:
    """They meet over HTTP; the demo starts the sandboxes as processes."""
    crossings = [
        f"{module} imports {name} (line {line})"
        for module, name, line in imports_by_module()
        if _top(module) in PACKAGES and _top(name) in PACKAGES and _top(module) != _top(name)
    ]
    assert not crossings, "\n".join(crossings)


def _top(name: str) -> str:
    return name.split(".")[0]


def _uses_sqlalchemy() -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for module, name, line in imports_by_module():
        if _top(name) == "sqlalchemy":
            users.setdefault(module, []).append(f"{name} (line {line})")
    return users


def test_only_store_imports_sqlalchemy() -> None:
    outside = {
        module: where
        for module, where in _uses_sqlalchemy().items()
        if not module.startswith("stripe2sf.store.") and module not in KNOWN_SQLALCHEMY_USERS
    }
    assert not outside, f"SQLAlchemy imported outside stripe2sf.store: {outside}"


@pytest.mark.parametrize("module", sorted(KNOWN_SQLALCHEMY_USERS))
def test_known_sqlalchemy_users_still_need_the_exception(module: str) -> None:
    assert module in _uses_sqlalchemy(), (
        f"{module} no longer imports SQLAlchemy: remove it from KNOWN_SQLALCHEMY_USERS"
    )
