"""The package's layout, checked from its import graph (every import, at any depth).

A ground floor (`runway/*.py`) that every wing may use; one wing per stage, each entered by its
`steps.py`, which only DAGs import. Run it alone with `pytest tests/unit/test_layout.py -q`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "runway"
WINGS = ("features", "training", "scoring", "monitoring", "serving", "experiments")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules `path` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports(path, modules) - {name} for name, path in paths.items()}
    # `from runway import x` names the package too: only the module it brings counts
    return {name: {m for m in deps if m != "runway"} for name, deps in graph.items()}


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else None


def test_every_wing_is_entered_by_its_steps(graph):
    for wing in WINGS:
        assert f"runway.{wing}.steps" in graph, wing
        assert (PACKAGE / wing / "__init__.py").read_text().startswith('"""'), (
            f"{wing} has no docstring"
        )


def test_no_module_imports_a_steps_module(graph):
    # a wing's `__main__` is an entry point, as a DAG is (`python -m runway.serving`)
    offenders = {
        m: sorted(d for d in deps if d.endswith(".steps"))
        for m, deps in graph.items()
        if not m.endswith(".__main__")
    }
    assert {m: d for m, d in offenders.items() if d} == {}


def test_the_ground_floor_imports_no_wing(graph):
    ground = [m for m in graph if _wing(m) is None and m != "runway"]
    upward = {m: sorted(d for d in graph[m] if _wing(d)) for m in ground}
    assert {m: d for m, d in upward.items() if d} == {}


def test_the_import_graph_has_no_cycle(graph):
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                return path[path.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, " -> ".join(cycle)
