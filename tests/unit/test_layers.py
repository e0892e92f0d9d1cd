"""The entry points reach the store only through the application layer (``quarterdeck.app``).

Rules over the ``import`` statements (at any depth of a module: a lazy import counts too): no CLI module
imports ``quarterdeck.store`` or ``quarterdeck.api`` (the API server is built by ``quarterdeck.server``, the
use cases are ``quarterdeck.app``'s); no API route, no module of the MCP server and not the API's event
streams import ``quarterdeck.store`` or open a transaction themselves (``db.read()``, ``db.transaction()``):
they parse, call the application layer and present. (The API's authentication plumbing, ``api/auth.py`` and
``api/sessions.py``, reads credentials from the store on every request and stays beside it.)"""

from __future__ import annotations

import ast
from pathlib import Path

import quarterdeck

PACKAGE = Path(quarterdeck.__file__).parent
CLI = PACKAGE / "cli"
#: the entry points that may reach the store only through ``quarterdeck.app``
THIN = [*sorted((PACKAGE / "api" / "routes").glob("*.py")), PACKAGE / "api" / "streams.py"]
THIN += sorted((PACKAGE / "mcpserver").glob("*.py"))


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


def _store_work(text: str, where: str) -> list[str]:
    """``where:line: what`` for each import of the store, and each transaction opened, in the module ``text``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(text, where)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "quarterdeck":
            names = [f"quarterdeck.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("read", "transaction")
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "db"
        ):
            found.append(f"{where}:{node.lineno}: opens {ast.unparse(node)}")
            continue
        else:
            continue
        found += [f"{where}:{node.lineno}: imports {n}" for n in names if n.split(".")[:2] == ["quarterdeck", "store"]]
    return found


def test_api_routes_and_the_mcp_server_reach_the_store_only_through_the_application_layer() -> None:
    assert len(THIN) > 20  # the routes, the streams and the MCP server's modules were found
    offending = [line for p in THIN for line in _store_work(p.read_text(), str(p.relative_to(PACKAGE.parent)))]
    assert not offending, "call a use case in quarterdeck.app (it owns the transaction) instead:\n" + "\n".join(
        offending
    )


def test_store_work_is_named_by_path_and_line() -> None:
    text = (
        "from quarterdeck.store import listings\n"
        "async def f(svc):\n    async with svc.db.read() as conn:\n        pass\n"
    )
    assert _store_work(text, "quarterdeck/api/routes/runs.py") == [
        "quarterdeck/api/routes/runs.py:1: imports quarterdeck.store.listings",
        "quarterdeck/api/routes/runs.py:3: opens svc.db.read()",
    ]
