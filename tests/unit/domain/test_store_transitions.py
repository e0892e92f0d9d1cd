"""The store's SQL guards of task status changes agree with the domain's transition rules (``domain/transitions.py``).

Every ``UPDATE tasks SET status = …`` in ``src/`` is found by reading the code, and its ``WHERE`` must either
be derived from the rules (``allowed_from(target)`` / ``_may_become(target)``) or name statuses the rules
allow the target to be reached from. A new write that bypasses the rules, or a rule that no longer allows
what the store does, fails here. (A guard spliced in as ``*name`` is looked for in the enclosing function; a
status set through ``.values(**mapping)`` cannot be seen, so the code sets a task's status by keyword.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from quarterdeck.domain import transitions
from quarterdeck.domain.statuses import TaskStatus

SRC = Path(__file__).resolve().parents[3] / "src" / "quarterdeck"
_DERIVED = re.compile(r"(?:allowed_from|_may_become)\((?P<target>[^()]+)\)")
_GUARD = re.compile(r"tasks\.c\.status\s*(?:==|\.in_\()\s*(?P<statuses>[^)]*)")
_STATUS = re.compile(r"TaskStatus\.([A-Z]+)")


def _chain(call: ast.Call) -> tuple[bool, list[str]]:
    """Whether ``call`` (``….values(…)``) is on ``tasks.update()``, and the source of its ``where`` clauses."""
    wheres: list[str] = []
    node: ast.expr = call.func
    while isinstance(node, ast.Attribute):
        inner = node.value
        if not isinstance(inner, ast.Call):
            return False, wheres
        func = inner.func
        if isinstance(func, ast.Attribute) and func.attr == "where":
            wheres += [ast.unparse(a) for a in inner.args]
        if isinstance(func, ast.Attribute) and func.attr == "update":
            return isinstance(func.value, ast.Name) and func.value.id == "tasks", wheres
        node = func
    return False, wheres


def _writes() -> list[tuple[str, str, list[str]]]:
    """(where, the status it sets, the WHERE clauses) of every status change of a task in src/."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        enclosing: dict[int, ast.AST] = {}
        for function in ast.walk(tree):  # outer functions first: an inner one overwrites them
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                enclosing |= {id(n): function for n in ast.walk(function)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values"):
                continue
            status = next((k.value for k in node.keywords if k.arg == "status"), None)
            on_tasks, wheres = _chain(node)
            if status is None or not on_tasks:
                continue
            if any(w.startswith("*") for w in wheres) and id(node) in enclosing:
                wheres.append(ast.unparse(enclosing[id(node)]))
            found.append((f"{path.relative_to(SRC)}:{node.lineno}", ast.unparse(status), wheres))
    return found


def _allowed(status: str, wheres: list[str]) -> str | None:
    """None when the guard of a write of ``status`` agrees with the rules, else what is wrong."""
    text = " ".join(wheres)
    if any(m["target"].strip() == status for m in _DERIVED.finditer(text)):
        return None
    if status.startswith("sa.case("):  # CASE WHEN <guard> THEN <target> … ELSE status
        pairs = re.findall(r"\((.*?),\s*TaskStatus\.([A-Z]+)(?:\.value)?\)", status)
        problems = [_literal(TaskStatus[target], guard) for guard, target in pairs]
        return "; ".join(p for p in problems if p) or (None if pairs else "a CASE this test cannot read")
    targets = _STATUS.findall(status)
    if len(targets) != 1:
        return f"sets {status}, with no guard derived from the rules"
    return _literal(TaskStatus[targets[0]], text)


def _literal(target: TaskStatus, guard: str) -> str | None:
    named = {TaskStatus[s] for m in _GUARD.finditer(guard) for s in _STATUS.findall(m["statuses"])}
    if not named:
        return f"moves to {target} without a status guard"
    if extra := named - transitions.sources(target):
        return f"moves {sorted(map(str, extra))} to {target}, which the rules do not allow"
    return None


def test_every_status_change_of_a_task_is_guarded_as_the_rules_say() -> None:
    writes = _writes()
    assert len(writes) >= 10  # the scan finds the store's writes
    wrong = [f"{where}: {problem}" for where, status, wheres in writes if (problem := _allowed(status, wheres))]
    assert wrong == []
