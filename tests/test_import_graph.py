"""The package's layers import each other in one direction only: no cycle between its sub-packages."""

from __future__ import annotations

import ast
from pathlib import Path

import cmrseg

ROOT = Path(cmrseg.__file__).parent
CORE = {"engine", "models", "losses", "methods", "metrics", "data", "io"}


def _runtime_imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Every ``cmrseg.*`` module imported anywhere in a module (functions included), except under
    ``if TYPE_CHECKING:`` (annotations only)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cmrseg"):
            mods = [f"cmrseg.{a.name}" for a in node.names] if node.module == "cmrseg" else [node.module]
            found.extend((m, node.lineno) for m in mods)
        elif isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names if a.name.startswith("cmrseg."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def package_graph() -> dict[str, dict[str, str]]:
    """``graph[a][b]`` = where sub-package (or top-level module) ``a`` imports ``b``."""
    graph: dict[str, dict[str, str]] = {}
    for path in ROOT.rglob("*.py"):
        src = path.relative_to(ROOT).parts[0].removesuffix(".py")
        for module, line in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            parts = module.split(".")
            if len(parts) > 1 and parts[1] != src:
                graph.setdefault(src, {}).setdefault(parts[1], f"{path.relative_to(ROOT)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]], nodes: set[str]) -> list[str] | None:
    """A cycle among ``nodes`` (as a path a -> ... -> a), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in nodes:
                continue
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (cyc := dfs(w)):
                return cyc
        state[v] = 2
        stack.pop()
        return None

    for n in sorted(nodes):
        if n not in state and (cyc := dfs(n)):
            return cyc
    return None


def test_core_layers_have_no_import_cycle() -> None:
    graph = package_graph()
    cycle = find_cycle(graph, CORE)
    where = [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:])] if cycle else []
    assert cycle is None, "import cycle: " + "; ".join(where)


def test_the_checkpoint_layer_imports_nothing_else_of_the_package() -> None:
    imports = {m for m, _ in _runtime_imports(ast.parse((ROOT / "checkpoint.py").read_text(encoding="utf-8")))}
    assert imports <= {"cmrseg.errors"}, imports


def test_the_engine_never_calls_up_into_workflows() -> None:
    assert "workflows" not in package_graph().get("engine", {})


def test_io_is_the_lowest_data_layer() -> None:
    """Readers return :class:`cmrseg.io.case.Case`; ``data`` builds on ``io`` and never the other way round."""
    graph = package_graph()
    assert set(graph.get("io", {})) <= {"axes", "errors", "labels"}, graph.get("io")
    assert find_cycle(graph, {"data", "io"}) is None


def test_case_is_one_type_under_both_names() -> None:
    from cmrseg.data import Case as DataCase
    from cmrseg.io.case import Case

    assert DataCase is Case


def test_the_cycle_finder_finds_a_known_cycle() -> None:
    graph = {"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}, "d": {"a": ""}}
    assert find_cycle(graph, {"a", "b", "c", "d"}) == ["a", "b", "c", "a"]
    assert find_cycle(graph, {"a", "b", "d"}) is None
