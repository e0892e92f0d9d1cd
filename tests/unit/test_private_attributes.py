"""No private attribute of a third-party library anywhere in ``src/``: a minor release may change or drop it.

The scan reads every module's syntax tree (no imports, no regular expressions over text) and reports:

* ``x._name`` (a single leading underscore), unless ``x`` is ``self`` or ``cls`` and ``_name`` is not an
  attribute of a third-party base class, or ``_name`` is one of Quarterdeck's own private names and ``x``
  is not a third-party module or object imported by name. Quarterdeck's own private names are every
  ``_name`` that ``src/`` defines: functions, classes, module and class attributes, ``self._name = …``,
  ``__slots__`` entries, import aliases and modules. (An attribute read through a local variable cannot
  be typed from the tree: a third-party private that happens to share a name we define would pass.)
* ``getattr``/``setattr``/``hasattr``/``delattr`` with a private name as a literal, by the same rule;
* ``from lib._private import …``, ``import lib._private`` and ``from lib import _private``;
* a method or attribute of ours whose name is a private of a third-party base class (overriding
  ``_execute`` of ``aiosqlite.Connection`` was one): checked on the imported classes.

``ALLOWED`` lists the underscore names that are documented public API of the standard library.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.connectors.asyncio import AsyncIODBAPIConnection
from sqlalchemy.engine import AdaptedConnection

import quarterdeck

SRC = Path(quarterdeck.__file__).resolve().parent
OURS = "quarterdeck"

#: documented public names that start with an underscore: namedtuple's methods and fields, ``os._exit``,
#: ``sys._getframe`` (the standard library's documentation lists each)
ALLOWED = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults", "_exit", "_getframe"})

_ACCESSORS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in ALLOWED


def _third_party(module: str | None, level: int = 0) -> bool:
    return level == 0 and module is not None and module.split(".")[0] not in (OURS, "__future__")


@dataclass
class _Module:
    path: Path
    tree: ast.Module
    #: names bound by importing from a third-party module: ``sa``, ``asyncpg``, ``AsyncConnection`` …
    foreign: set[str] = field(default_factory=set)


def _defined(tree: ast.AST) -> Iterator[str]:
    """The private names a module defines."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Name):
                        yield part.id
                    elif isinstance(part, ast.Attribute) and _is_self(part.value):
                        yield part.attr
                if isinstance(target, ast.Name) and target.id == "__slots__" and node.value is not None:
                    for item in ast.walk(node.value):
                        if isinstance(item, ast.Constant) and isinstance(item.value, str):
                            yield item.value
        elif isinstance(node, ast.alias):
            yield (node.asname or node.name).split(".")[0]


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node


def _load(path: Path, source: str | None = None) -> _Module:
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source, str(path))
    module = _Module(path, tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name):
                    module.foreign.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _third_party(node.module, node.level):
            module.foreign.update(alias.asname or alias.name for alias in node.names)
    return module


def _ours() -> set[str]:
    names = {p.stem for p in SRC.rglob("*.py")} | {p.name for p in SRC.rglob("*") if p.is_dir()}
    for path in SRC.rglob("*.py"):
        names.update(_defined(ast.parse(path.read_text(encoding="utf-8"))))
    return {n for n in names if _private(n)}


def violations(module: _Module, ours: set[str]) -> list[str]:
    """What the module uses of third-party privates, as ``path:line: what``."""
    found: list[str] = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{module.path}:{getattr(node, 'lineno', 0)}: {what}")

    def check(node: ast.AST, receiver: ast.AST, name: str) -> None:
        if not _private(name) or _is_self(receiver):
            return
        root = _root(receiver)
        if isinstance(root, ast.Name) and root.id in module.foreign:
            report(node, f"{ast.unparse(receiver)}.{name} (a private of {root.id})")
        elif name not in ours:
            report(node, f"{ast.unparse(receiver)}.{name} (not a private name of ours)")

    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute):
            check(node, node.value, node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            check(node, node.args[0], node.args[1].value)
        elif isinstance(node, ast.ImportFrom) and _third_party(node.module, node.level):
            assert node.module is not None
            if any(_private(part) for part in node.module.split(".")):
                report(node, f"from {node.module} import … (a private module)")
            for alias in node.names:
                if _private(alias.name):
                    report(node, f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name) and any(_private(part) for part in alias.name.split(".")):
                    report(node, f"import {alias.name} (a private module)")
    return found


def _overrides(module: _Module) -> list[str]:
    """Private names our classes define or use on ``self`` that are privates of a third-party base."""
    candidates = [
        node
        for node in module.tree.body
        if isinstance(node, ast.ClassDef) and any(base.id in module.foreign for base in _named(node.bases))
    ]
    if not candidates:
        return []
    imported = importlib.import_module(".".join(module.path.relative_to(SRC.parent).with_suffix("").parts))
    found: list[str] = []
    for node in candidates:
        found += [f"{module.path}:{node.lineno}: {what}" for what in _collisions(getattr(imported, node.name), node)]
    return found


def _collisions(cls: type, node: ast.ClassDef) -> list[str]:
    """``cls``'s private names (from its body ``node``) that a third-party class in its MRO has too."""
    foreign = [base for base in inspect.getmro(cls)[1:] if not base.__module__.startswith(OURS)]
    used = {n for n in _defined(ast.Module(body=node.body, type_ignores=[])) if _private(n)}
    used |= {part.attr for part in ast.walk(node) if isinstance(part, ast.Attribute) and _is_self(part.value)}
    found = []
    for private in sorted(n for n in used if _private(n)):
        owner = next((base for base in foreign if private in vars(base)), None)
        if owner is not None:
            found.append(f"{cls.__name__}.{private} is a private of {owner.__module__}.{owner.__qualname__}")
    return found


def _named(bases: list[ast.expr]) -> Iterator[ast.Name]:
    for base in bases:
        root = _root(base)
        if isinstance(root, ast.Name):
            yield root


def test_src_uses_no_private_attribute_of_a_third_party_library() -> None:
    ours = _ours()
    found: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        module = _load(path)
        found += violations(module, ours)
        found += _overrides(module)
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "import aiosqlite\nclass C(aiosqlite.Connection):\n    pass\nx = C._execute",
        "raw = pooled.driver_connection._conn",
        "import sqlalchemy as sa\nsa._private_thing",
        "from sqlalchemy.util._concurrency_py3k import greenlet_spawn",
        "from asyncpg import _base",
        "import sqlalchemy._internal",
        "getattr(adapted, '_transaction')",
        "from sqlalchemy import exc\nexc._helper_of_ours",
    ],
)
def test_the_scan_finds_third_party_privates(source: str) -> None:
    module = _load(Path("example.py"), source)
    assert violations(module, ours={"_helper_of_ours"}) != []


@pytest.mark.parametrize(
    "source",
    [
        "self._kept.append(1)",
        "cls._forms = {}",
        "from quarterdeck.store import tasks\ntasks._build_claim('sqlite', True)",
        "form._GIVEN",
        "point._replace(x=1)",
        "obj.__class__",
    ],
)
def test_the_scan_passes_our_own_privates(source: str) -> None:
    module = _load(Path("example.py"), source)
    assert violations(module, ours={"_kept", "_forms", "_build_claim", "_GIVEN"}) == []


class _Adapted(AdaptedConnection):
    """What the scan must refuse: setting a private slot of SQLAlchemy's ``AdaptedConnection``."""

    def __init__(self, driver: AsyncIODBAPIConnection) -> None:
        self._connection = driver


class _Helped(AdaptedConnection):
    """What it must pass: a private helper of our own on a third-party subclass."""

    def _helper(self) -> None:
        return None


def test_a_private_of_a_third_party_base_class_is_found() -> None:
    """As overriding ``aiosqlite.Connection._execute`` was (this scan was written after it)."""

    def collisions(cls: type) -> list[str]:
        node = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
        assert isinstance(node, ast.ClassDef)
        return _collisions(cls, node)

    assert collisions(_Adapted) == [
        "_Adapted._connection is a private of sqlalchemy.engine.interfaces.AdaptedConnection"
    ]
    assert collisions(_Helped) == []
