"""The packages of ``src/quarterdeck`` import each other without a cycle: the dependency arrows point one way.

The graph is read from every ``import`` statement of ``src/`` (``ast``; imports inside functions and under
``TYPE_CHECKING`` count too: a lazy import is still a dependency). Its nodes are ``quarterdeck.<pkg>``, one
per subpackage or top-level module (``app``, ``errors``, ``settings``); imports inside one package are not
edges. A cycle is reported as the path that closes it, with the import statements that make each arrow.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import quarterdeck

SRC = Path(quarterdeck.__file__).parent

Graph = dict[str, dict[str, list[str]]]


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The ``quarterdeck`` modules one import statement names (``from quarterdeck import x`` names ``x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0 and node.module is not None:
        if node.module == "quarterdeck":
            return [f"quarterdeck.{alias.name}" for alias in node.names]
        return [node.module]
    return []


def package_graph(src: Path = SRC) -> Graph:
    """package → the packages it imports → where (``path:line``)."""
    graph: Graph = defaultdict(lambda: defaultdict(list))
    for path in sorted(src.rglob("*.py")):
        package = path.relative_to(src).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(node):
                parts = name.split(".")
                if parts[0] == "quarterdeck" and len(parts) > 1 and parts[1] != package:
                    graph[package][parts[1]].append(f"{path.relative_to(src)}:{node.lineno}")
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of ``graph`` as the path that closes it (``[a, b, a]``), or None."""
    finished: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        path.append(node)
        for following in sorted(graph.get(node, {})):
            if following in path:
                return [*path[path.index(following) :], following]
            if following not in finished and (cycle := visit(following)) is not None:
                return cycle
        finished.add(path.pop())
        return None

    for start in sorted(graph):
        if start not in finished and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_packages_import_each_other_without_a_cycle() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    if cycle is not None:
        arrows = [f"  {a} → {b}: {', '.join(graph[a][b][:4])}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle between packages: " + " → ".join(cycle) + "\n" + "\n".join(arrows))


def test_a_cycle_is_named_with_the_path_that_closes_it() -> None:
    graph: Graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:1"]}, "c": {"a": ["c.py:1"]}, "d": {"a": ["d.py:1"]}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}, "c": {"a": [], "b": []}}) is None


def test_lazy_imports_count(tmp_path: Path) -> None:
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "attempt.py").write_text("def f():\n    from quarterdeck.crews import review\n")
    (tmp_path / "errors.py").write_text("import quarterdeck.domain.suggest\nfrom quarterdeck import engine\n")
    graph = package_graph(tmp_path)
    assert graph["engine"]["crews"] == ["engine/attempt.py:2"]
    assert set(graph["errors"]) == {"domain", "engine"}
