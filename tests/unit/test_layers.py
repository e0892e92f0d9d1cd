"""The CLI reaches the store and the API only through the application layer (``quarterdeck.app``).

A rule over the ``import`` statements of ``src/quarterdeck/cli`` (at any depth of a module: a lazy import counts
too): no CLI module imports ``quarterdeck.store`` or ``quarterdeck.api``. The API server is built by
``quarterdeck.server``, the use cases are ``quarterdeck.app``'s."""

from __future__ import annotations

import ast
from pathlib import Path

import quarterdeck

CLI = Path(quarterdeck.__file__).parent / "cli"


def _reaches_past(path: Path) -> list[str]:
    """The store and API modules ``path`` imports (at any depth of the module)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "quarterdeck":
            names = [f"quarterdeck.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        found += [n for n in names if n.split(".")[:2] in (["quarterdeck", "store"], ["quarterdeck", "api"])]
    return found


def test_no_cli_module_imports_the_store_or_the_api() -> None:
    offending = {p.name: _reaches_past(p) for p in sorted(CLI.glob("*.py")) if _reaches_past(p)}
    assert not offending, f"CLI modules importing the store or the API: call quarterdeck.app instead: {offending}"


def test_every_form_of_import_counts(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import quarterdeck.store.database\nfrom quarterdeck import api, app\n"
        "def f():\n    from quarterdeck.store.records import RunRecord\n"
    )
    assert _reaches_past(module) == ["quarterdeck.store.database", "quarterdeck.api", "quarterdeck.store.records"]
