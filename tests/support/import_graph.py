"""The import graph of src/, built statically (ast): what tests/unit/test_import_cycles.py and
tests/unit/test_domain_purity.py check.

Every import is seen wherever it is written: module level, inside `if TYPE_CHECKING:`, inside
functions. Edges: `import a.b` -> a.b; `from a import b` -> a.b when a.b is a module, else a;
`from a.b import c` -> a.b (relative imports resolved the same way). Importing a module also
runs its parent packages' `__init__`, but an edge to one's own parent package is not counted: a
submodule imported through its package is how packages work, not a cycle.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("stripe2sf", "salesforce_sandbox", "stripe_sandbox")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def modules_of(root: Path) -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name, is_package = _module_name(path, root)
            found[name] = Module(name, path, is_package)
    return found


def _base_of(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (relative levels resolved)."""
    if node.level == 0:
        return node.module or ""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _known(name: str, modules: Mapping[str, Module]) -> str | None:
    """The longest prefix of `name` that is one of our modules (None: not ours)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_names(module: Module, modules: Mapping[str, Module]) -> Iterator[tuple[str, int]]:
    """Every module name `module` imports (ours or not), with its line."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _base_of(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in modules else base), node.lineno


def import_graph(root: Path = SRC) -> dict[str, list[Import]]:
    """importer -> its imports of other modules of ours (no self or parent-package edges)."""
    modules = modules_of(root)
    graph: dict[str, list[Import]] = {name: [] for name in modules}
    for module in modules.values():
        for name, line in imported_names(module, modules):
            target = _known(name, modules)
            if target is None or target == module.name or module.name.startswith(target + "."):
                continue
            graph[module.name].append(Import(module.name, target, line))
    return graph


def strongly_connected(graph: Mapping[str, list[Import]]) -> list[set[str]]:
    """The components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[Import]]] = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            edge = next(edges, None)
            if edge is not None:
                target = edge.imported
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def path_between(graph: Mapping[str, list[Import]], start: str, goal: str) -> list[Import] | None:
    """The shortest chain of imports from `start` to `goal` (None: there is none)."""
    came_from: dict[str, Import | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            chain: list[Import] = []
            step = came_from[node]
            while step is not None:
                chain.append(step)
                step = came_from[step.importer]
            return chain[::-1]
        for edge in graph[node]:
            if edge.imported not in came_from:
                came_from[edge.imported] = edge
                queue.append(edge.imported)
    return None


def cycles(graph: Mapping[str, list[Import]]) -> list[list[Import]]:
    """One shortest cycle per strongly connected component (fix it and run again to see the
    next one of the same component, if any)."""
    found = []
    for component in strongly_connected(graph):
        inside = {name: [e for e in graph[name] if e.imported in component] for name in component}
        best: list[Import] | None = None
        for name in sorted(component):
            for edge in inside[name]:
                back = path_between(inside, edge.imported, name)
                if back is not None and (best is None or len(back) + 1 < len(best)):
                    best = [edge, *back]
        assert best is not None
        found.append(best)
    return found


def describe(cycle: list[Import]) -> str:
    """`a (line 3) -> b (line 7) -> a`: each module with the line of its import of the next."""
    return " -> ".join(f"{e.importer} (line {e.line})" for e in cycle) + f" -> {cycle[0].importer}"


def without(
    graph: Mapping[str, list[Import]], edges: frozenset[tuple[str, str]]
) -> dict[str, list[Import]]:
    """The graph less the (importer, imported) edges given."""
    return {
        name: [e for e in imports if (e.importer, e.imported) not in edges]
        for name, imports in graph.items()
    }


def imports_by_module(root: Path = SRC) -> Iterator[tuple[str, str, int]]:
    """(module, imported name, line) for every import under `root`, ours or not."""
    modules = modules_of(root)
    for module in modules.values():
        for name, line in imported_names(module, modules):
            yield module.name, name, line
