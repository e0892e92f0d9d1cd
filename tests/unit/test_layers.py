"""The entry points reach the store only through the application layer (``quarterdeck.app``).

Rules over the ``import`` statements (at any depth of a module: a lazy import counts too): no CLI module
imports ``quarterdeck.store`` or ``quarterdeck.api`` (the API server is built by ``quarterdeck.server``, the
use cases are ``quarterdeck.app``'s); no API route, no module of the MCP server and not the API's event
streams import ``quarterdeck.store`` or open a transaction themselves (``db.read()``, ``db.transaction()``):
they parse, call the application layer and present; the API's other modules import from the store only
record and row types (``…Record``, ``…Summary``, ``Database``) and open no transaction either. (The API's
authentication plumbing, ``api/auth.py`` and ``api/sessions.py``, reads credentials from the store on every
request and stays beside it.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import quarterdeck

PACKAGE = Path(quarterdeck.__file__).parent
CLI = PACKAGE / "cli"
#: the entry points that may reach the store only through ``quarterdeck.app``
THIN = [*sorted((PACKAGE / "api" / "routes").glob("*.py")), PACKAGE / "api" / "streams.py"]
THIN += sorted((PACKAGE / "mcpserver").glob("*.py"))
#: the API's credential plumbing, which reads the store on every request
PLUMBING = {PACKAGE / "api" / "auth.py", PACKAGE / "api" / "sessions.py"}
#: every other module of the API: it may name the store's record and row types, no more
API = [p for p in sorted((PACKAGE / "api").rglob("*.py")) if p not in PLUMBING and p not in THIN]
#: a name of the store an API module may import: a record or row type, or the database's (for annotations)
_TYPE = re.compile(r"^[A-Z]\w*(Record|Summary)$|^Database$")


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


def _store_work(text: str, where: str, *, types: bool = False) -> list[str]:
    """``where:line: what`` for each import of the store (but of its record and row types, with ``types``), and each
    transaction opened, in the module ``text``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(text, where)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "quarterdeck":
            names = [f"quarterdeck.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{a.name}" for a in node.names if not (types and _TYPE.match(a.name))]
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


def test_the_api_s_other_modules_name_only_the_store_s_types() -> None:
    assert len(API) > 10
    where = {p: str(p.relative_to(PACKAGE.parent)) for p in API}
    offending = [line for p in API for line in _store_work(p.read_text(), where[p], types=True)]
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
    text = (
        "from quarterdeck.store.records import RunRecord\nfrom quarterdeck.store.listings import read_run, RunSummary\n"
    )
    assert _store_work(text, "quarterdeck/api/convert.py", types=True) == [
        "quarterdeck/api/convert.py:2: imports quarterdeck.store.listings.read_run"
    ]
