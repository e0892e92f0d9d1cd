"""Quarterdeck's own plan file (YAML or JSON): parsed with line numbers into a domain Plan."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError

from quarterdeck.domain import durations, plans
from quarterdeck.domain.ids import check_safe_name
from quarterdeck.domain.suggest import did_you_mean
from quarterdeck.errors import CycleError, PlanError, Problem, UnsafeNameError
from quarterdeck.sandbox import policy as sandbox_policy
from quarterdeck.stories import documents

__all__ = ["TASK_FIELDS", "looks_like_plan", "parse_plan"]

#: Every field a task may have, with a checker returning the normalised value or raising ValueError.
TASK_FIELDS = (
    "id",
    "title",
    "prompt",
    "depends_on",
    "runtime",
    "options",
    "verify",
    "acceptance_criteria",
    "priority",
    "max_attempts",
    "timeout_s",
    "budget_usd",
    "max_revisions",
    "not_before",
    "role",
    "allow_empty",
    "files",
    "sandbox",
    "requires",
    "estimate",
)
_TOP_FIELDS = ("name", "defaults", "tasks")
_DEFAULTABLE = (
    "runtime",
    "options",
    "verify",
    "priority",
    "max_attempts",
    "timeout_s",
    "prompt",
    "budget_usd",
    "max_revisions",
    "role",
    "allow_empty",
    "sandbox",
    "requires",
    "estimate",
)


@dataclass(slots=True)
class _Located:
    """A parsed value with the 1-based line where it starts (its dicts and lists hold more ``_Located``)."""

    value: Any
    line: int


class _Leaf(_Located):
    """A value from the JSON fast path left as decoded: :func:`_plain` converts it only when it is read."""

    __slots__ = ()


#: How deep :func:`_parse_root` looks into a plan: root → ``tasks`` → a task → its fields (read through ``_plain``).
_STRUCTURE_DEPTH = 3

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _to_located(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> _Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Located] = {}
        for key_node, value_node in node.value:
            scalar_key = isinstance(key_node, yaml.ScalarNode)
            key = key_node.value if scalar_key else constructor.construct_object(key_node, deep=True)
            out[str(key)] = _to_located(value_node, constructor)
        return _Located(out, line)
    if isinstance(node, yaml.SequenceNode):
        return _Located([_to_located(child, constructor) for child in node.value], line)
    return _Located(constructor.construct_object(node, deep=True), line)


def _plain(located: _Located) -> Any:
    value = located.value
    if type(located) is _Leaf:
        return _plain_json(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})
_STR_ONLY = frozenset({str})


def _plain_json(value: Any) -> Any:
    """A decoded JSON value with plain dicts for the line-tagged ones (what ``_plain(_from_json(value))`` gives)."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value) if _SCALARS.issuperset(map(type, value)) else [_plain_json(v) for v in value]
    return value


def looks_like_plan(text: str, path: str) -> bool:
    """True when the text is a YAML/JSON mapping with a ``tasks`` list of mappings that have ``id``."""
    if not path.lower().endswith((".yaml", ".yml", ".json")):
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return (
        isinstance(tasks, list)
        and bool(tasks)
        and all(isinstance(t, dict) and "id" in t and "title" in t for t in tasks)
        and ("name" in data or "defaults" in data)
    )


def _load(text: str, path: str) -> _Located:
    if path.lower().endswith(".json"):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError([Problem(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")]) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError([Problem(path, line, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        raise PlanError([Problem(path, 1, "invalid YAML: nested too deeply")]) from None
    if node is None:
        raise PlanError([Problem(path, 1, "the plan is empty")])
    try:
        return _to_located(node, yaml.constructor.SafeConstructor())
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PlanError([Problem(path, line, f"invalid YAML value: {problem}")]) from None


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("must be a non-empty string")
    return v


def _text(v: Any) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


def _str_list(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list) and _STR_ONLY.issuperset(map(type, v)):
        return tuple(v)  # the common case, checked in C
    if not isinstance(v, list) or not all(isinstance(x, str | int) and not isinstance(x, bool) for x in v):
        raise ValueError("must be a list of strings")
    return tuple(str(x) for x in v)


#: a requirement a worker may offer: a label (``gpu``, ``region=eu``) or ``runtime:<name>``
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=/-]{0,63}$")


def _requirements(v: Any) -> tuple[str, ...]:
    found = _str_list(v)
    bad = [r for r in found if not _REQUIREMENT.match(r)]
    if bad:
        raise ValueError(f"must be labels of letters, digits and . _ : = / - (at most 64): {bad[0]!r} is not")
    return tuple(sorted(set(found)))


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _role(v: Any) -> str:
    try:
        return check_safe_name(_str(v), what="role")
    except UnsafeNameError as exc:
        raise ValueError(exc.reason.removeprefix("role ")) from None


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("must be an integer")
    return v


def _positive_int(v: Any) -> int:
    if _int(v) < 1:
        raise ValueError("must be at least 1")
    return int(v)


def _aware_datetime(v: Any) -> datetime:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError("must be an ISO 8601 date and time, e.g. 2026-12-01T09:00:00+00:00") from None
    if not isinstance(v, datetime) or v.tzinfo is None:
        raise ValueError("must be an ISO 8601 date and time with a timezone, e.g. 2026-12-01T09:00:00+00:00")
    return v


def _non_negative_int(v: Any) -> int:
    if _int(v) < 0:
        raise ValueError("must be 0 or more")
    return int(v)


def _positive_usd(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError("must be a positive amount of US dollars")
    return float(v)


def _positive_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError("must be a positive number of seconds")
    return float(v)


def _estimate(v: Any) -> float | None:
    """``estimate``: seconds (a number) or a duration (``90s``, ``20m``, ``1h30m``); null is no estimate."""
    return None if v is None else durations.parse_seconds(v)


def _mapping(v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("must be a mapping")
    return dict(v)


def _sandbox(v: Any) -> dict[str, Any]:
    """A task's ``sandbox:`` override (``quarterdeck.sandbox.SandboxOverride``), kept with its options."""
    mapping = _mapping(v)
    try:
        override = sandbox_policy.SandboxOverride.model_validate(mapping)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    return override.model_dump(mode="json", exclude_unset=True)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "id": lambda v: _str(str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
    "title": _str,
    "prompt": _text,
    "depends_on": _str_list,
    "runtime": _str,
    "options": _mapping,
    "verify": _str_list,
    "acceptance_criteria": _str_list,
    "priority": _int,
    "max_attempts": _positive_int,
    "timeout_s": _positive_float,
    "budget_usd": _positive_usd,
    "max_revisions": _non_negative_int,
    "not_before": _aware_datetime,
    "role": _role,
    "allow_empty": _bool,
    "files": _str_list,
    "sandbox": _sandbox,
    "requires": _requirements,
    "estimate": _estimate,
}


def parse_plan(text: str, path: str, *, parsed: documents.Loaded | None = None) -> plans.Plan:
    """Parse and validate a plan file, reporting every problem in one pass.

    JSON takes a fast path (the standard JSON decoder, lines per object); when that finds any problem
    the file is read again through YAML composition, which gives every problem its exact line.
    ``parsed`` is the plain ``json.loads`` of a JSON ``text`` when the caller already has it.

    Raises:
        PlanError: with one ``path:line: message`` problem per fault (``CycleError`` for a cycle).
    """
    if path.lower().endswith(".json"):
        located = _located_json(text, parsed) if parsed is not None else None
        if located is None:
            loaded = documents.load_json(text, path, parsed=parsed)
            located = _from_json(loaded.value, 1) if loaded.problem is None else None
        if located is not None:
            try:
                return _parse_root(located, path)
            except PlanError:
                pass  # read again below for exact lines
    return _parse_root(_load(text, path), path)


def _located_json(text: str, parsed: documents.Loaded) -> _Located | None:
    """``_from_json(documents.load_json(text, …).value, 1)`` in one walk; None when that needs its slow path.

    The n-th ``{`` outside strings opens the n-th object of a pre-order walk, unless a repeated key
    dropped one: then the counts differ and the caller takes the exact (slow) way.
    """
    lines = documents.object_lines(text)
    position = 0

    def walk(value: Any, line: int, depth: int) -> _Located:
        nonlocal position
        if isinstance(value, dict):
            own = lines[position]
            position += 1
            if depth >= _STRUCTURE_DEPTH:
                position += _objects(value) - 1
                return _Leaf(value, own)
            if depth + 1 == _STRUCTURE_DEPTH:  # a task: its fields are leaves, strings the most common
                return _Located(
                    {str(k): _Leaf(v, own) if type(v) is str else walk(v, own, depth + 1) for k, v in value.items()},
                    own,
                )
            return _Located({str(k): walk(v, own, depth + 1) for k, v in value.items()}, own)
        if isinstance(value, list):
            if depth >= _STRUCTURE_DEPTH:
                position += _objects(value)
                return _Leaf(value, line)
            return _Located([walk(v, line, depth + 1) for v in value], line)
        return _Leaf(value, line)

    try:
        located = walk(parsed.value, 1, 0)
    except (IndexError, RecursionError):
        return None
    return located if position == len(lines) else None


def _objects(value: Any) -> int:
    """How many JSON objects ``value`` holds, itself included."""
    if isinstance(value, dict):
        return 1 + sum(map(_objects, value.values()))
    if isinstance(value, list):
        return 0 if _SCALARS.issuperset(map(type, value)) else sum(map(_objects, value))
    return 0


def _from_json(value: Any, line: int, depth: int = 0) -> _Located:
    """Wrap the plan's structure (root, defaults, tasks, each task); values below are left as leaves."""
    if isinstance(value, dict):
        own = int(getattr(value, "line", line))
        if depth >= _STRUCTURE_DEPTH:
            return _Leaf(value, own)
        return _Located({str(k): _from_json(v, own, depth + 1) for k, v in value.items()}, own)
    if isinstance(value, list) and depth < _STRUCTURE_DEPTH:
        return _Located([_from_json(v, line, depth + 1) for v in value], line)
    return _Leaf(value, line)


def _parse_root(root: _Located, path: str) -> plans.Plan:
    if not isinstance(root.value, dict):
        raise PlanError([Problem(path, root.line, "a plan must be a mapping with 'name' and 'tasks'")])
    top: dict[str, _Located] = root.value
    problems: list[Problem] = [
        Problem(
            path,
            top[key].line,
            f"unknown field {key!r}{did_you_mean(key, _TOP_FIELDS) or ' (known: ' + ', '.join(_TOP_FIELDS) + ')'}",
        )
        for key in top
        if key not in _TOP_FIELDS
    ]
    name = "plan"
    if "name" in top:
        try:
            name = _str(top["name"].value)
        except ValueError as exc:
            problems.append(Problem(path, top["name"].line, f"'name' {exc}"))
    defaults: dict[str, Any] = {}
    if "defaults" in top:
        located_defaults = top["defaults"]
        if not isinstance(located_defaults.value, dict):
            problems.append(Problem(path, located_defaults.line, "'defaults' must be a mapping"))
        else:
            for key, item in located_defaults.value.items():
                if key not in _DEFAULTABLE:
                    problems.append(
                        Problem(
                            path,
                            item.line,
                            f"unknown default {key!r}"
                            + (did_you_mean(key, _DEFAULTABLE) or f" (allowed: {', '.join(_DEFAULTABLE)})"),
                        )
                    )
                    continue
                try:
                    defaults[key] = _CHECKS[key](_plain(item))
                except ValueError as exc:
                    problems.append(Problem(path, item.line, f"default {key!r} {exc}"))
    tasks_node = top.get("tasks")
    specs: list[plans.TaskSpec] = []
    if tasks_node is None:
        problems.append(Problem(path, root.line, "missing 'tasks' (a list of tasks)"))
    elif not isinstance(tasks_node.value, list):
        problems.append(Problem(path, tasks_node.line, "'tasks' must be a list"))
    else:
        for item in tasks_node.value:
            spec = _parse_task(item, path, defaults, problems)
            if spec is not None:
                specs.append(spec)
    plan = plans.Plan(name=name, tasks=tuple(specs), source=plans.SourceRef(path, 1))
    try:
        plans.validate(plan)
    except CycleError as exc:
        if not problems:
            raise
        problems.extend(exc.problems)
    except PlanError as exc:
        problems.extend(exc.problems)
    if problems:
        raise PlanError(sorted(problems, key=lambda p: p.line))
    return plan


def _parse_task(item: _Located, path: str, defaults: dict[str, Any], problems: list[Problem]) -> plans.TaskSpec | None:
    if not isinstance(item.value, dict):
        problems.append(Problem(path, item.line, "each task must be a mapping"))
        return None
    fields: dict[str, _Located] = item.value
    values: dict[str, Any] = dict(defaults)
    ok = True
    for key, located in fields.items():
        if key not in _CHECKS:
            hint = did_you_mean(key, TASK_FIELDS) or f" (known: {', '.join(TASK_FIELDS)})"
            problems.append(Problem(path, located.line, f"unknown task field {key!r}{hint}"))
            ok = False
            continue
        try:
            value = _CHECKS[key](_plain(located))
        except ValueError as exc:
            problems.append(Problem(path, located.line, f"{key!r} {exc}"))
            ok = False
            continue
        values[key] = {**defaults.get(key, {}), **value} if key in ("options", "sandbox") else value
    for required in ("id", "title"):
        if required not in fields:
            problems.append(Problem(path, item.line, f"task is missing {required!r}"))
            ok = False
    if not ok:
        return None
    values.setdefault("runtime", plans.NO_RUNTIME)
    if "estimate" in values:
        values["estimate_s"] = values.pop("estimate")
    if "sandbox" in values:  # kept beside the runtime's options (see ``sandbox.policy.SANDBOX_OPTION``)
        values["options"] = {**values.get("options", {}), sandbox_policy.SANDBOX_OPTION: values.pop("sandbox")}
    criteria = tuple(
        plans.Criterion(id=str(n), text=text) for n, text in enumerate(values.pop("acceptance_criteria", ()), 1)
    )
    return plans.TaskSpec(
        **values,
        acceptance_criteria=criteria,
        source=plans.SourceRef(path, item.line),
    )
