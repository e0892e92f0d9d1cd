"""Plans: the DAG of task specs, its validation, topological levels and critical path."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quarterdeck.domain import ids
from quarterdeck.errors import CycleError, PlanError, Problem, UnsafeNameError

__all__ = [
    "NO_RUNTIME",
    "Criterion",
    "Plan",
    "SourceRef",
    "TaskSpec",
    "critical_path",
    "find_cycle",
    "levels",
    "path_estimates_ms",
    "path_lengths",
    "validate",
]


#: the runtime of a task read from a file that names none: the run's chosen agent (``--agent``, the plan's
#: ``defaults.runtime``, the project's ``[run] agent``) fills it in before the plan is submitted
NO_RUNTIME = ""


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a task was written down."""

    path: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Criterion:
    """One acceptance criterion, numbered as its author numbered it."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One unit of work as planned: what to do, how to check it, what it waits for."""

    id: str
    title: str
    prompt: str = ""
    depends_on: tuple[str, ...] = ()
    runtime: str = "scripted"
    options: Mapping[str, Any] = field(default_factory=dict)
    verify: tuple[str, ...] = ()
    acceptance_criteria: tuple[Criterion, ...] = ()
    priority: int = 0
    max_attempts: int = 1
    timeout_s: float = 1800.0
    #: the most this task's agent may spend per attempt; what is reserved from the run's budget before it runs
    budget_usd: float | None = None
    #: how many times a failed verification goes back to the same agent session before the attempt fails
    max_revisions: int = 0
    #: not claimed before this moment (timezone-aware), even when ready
    not_before: datetime | None = None
    #: the crew role (worker specialty) the task is assigned to, e.g. ``backend``
    role: str | None = None
    #: the task may succeed without changing any file (by default an agent that changed nothing failed)
    allow_empty: bool = False
    #: paths or globs the task expects to touch; overlapping tasks are run one after the other
    files: tuple[str, ...] = ()
    #: what the worker that claims it must offer: labels (``gpu``, ``region=eu``) or ``runtime:<name>``
    requires: tuple[str, ...] = ()
    #: how long the task is expected to take, in seconds (None: not estimated); ranks it by the time behind it
    estimate_s: float | None = None
    source: SourceRef = SourceRef("<plan>")


@dataclass(frozen=True, slots=True)
class Plan:
    """A named set of task specs; valid plans are acyclic and closed under ``depends_on``."""

    name: str
    tasks: tuple[TaskSpec, ...]
    source: SourceRef = SourceRef("<plan>")

    def by_id(self) -> dict[str, TaskSpec]:
        return {t.id: t for t in self.tasks}


def validate(plan: Plan) -> Plan:
    """Return ``plan`` if it is a valid DAG, else raise with every problem found in one pass.

    Raises:
        PlanError: duplicate ids, unsafe ids, unknown dependencies, self-dependencies.
        CycleError: the dependencies form a cycle; ``.cycle`` names it.
    """
    problems: list[Problem] = []
    seen: dict[str, TaskSpec] = {}
    for task in plan.tasks:
        where = task.source
        try:
            ids.check_safe_name(task.id, what="task id")
        except UnsafeNameError as exc:
            problems.append(Problem(where.path, where.line, exc.message))
        if task.id in seen:
            first = seen[task.id].source
            problems.append(
                Problem(where.path, where.line, f"duplicate task id {task.id!r} (first at {first.path}:{first.line})")
            )
        else:
            seen[task.id] = task
    for task in plan.tasks:
        for dep in task.depends_on:
            if dep == task.id:
                problems.append(Problem(task.source.path, task.source.line, f"task {task.id!r} depends on itself"))
            elif dep not in seen:
                problems.append(
                    Problem(task.source.path, task.source.line, f"task {task.id!r} depends on unknown task {dep!r}")
                )
    if problems:
        raise PlanError(sorted(problems, key=lambda p: (p.path, p.line)))
    cycle = find_cycle({t.id: t.depends_on for t in plan.tasks})
    if cycle:
        first = seen[cycle[0]].source
        raise CycleError(cycle, [Problem(first.path, first.line, "dependency cycle: " + " → ".join(cycle))])
    return plan


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one cycle as ``[a, b, …, a]`` (each depending on the next), or None if acyclic."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for root in graph:
        if colour[root] != white:
            continue
        stack: list[tuple[str, Iterable[str]]] = [(root, iter(graph[root]))]
        path = [root]
        colour[root] = grey
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in colour:
                    continue
                if colour[child] == grey:
                    return [*path[path.index(child) :], child]
                if colour[child] == white:
                    colour[child] = grey
                    stack.append((child, iter(graph[child])))
                    path.append(child)
                    break
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return None


def _topo_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm over an acyclic graph, dependencies first, stable in input order."""
    indegree = {n: sum(1 for d in deps if d in graph) for n, deps in graph.items()}
    dependants: dict[str, list[str]] = {n: [] for n in graph}
    for node, deps in graph.items():
        for dep in deps:
            if dep in dependants:
                dependants[dep].append(node)
    ready = [n for n, d in indegree.items() if d == 0]
    order: list[str] = []
    i = 0
    while i < len(ready):
        node = ready[i]
        i += 1
        order.append(node)
        for child in dependants[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return order


def levels(plan: Plan) -> list[list[str]]:
    """Group task ids by depth: level 0 has no dependencies, level n depends on level < n."""
    graph = {t.id: t.depends_on for t in plan.tasks}
    depth: dict[str, int] = {}
    for node in _topo_order(graph):
        depth[node] = 1 + max((depth[d] for d in graph[node] if d in depth), default=-1)
    out: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for task in plan.tasks:
        out[depth[task.id]].append(task.id)
    return out


def _dependants(plan: Plan) -> tuple[list[str], dict[str, list[str]]]:
    """The task ids dependants first (reversed topological order), and each task's direct dependants."""
    graph = {t.id: t.depends_on for t in plan.tasks}
    dependants: dict[str, list[str]] = {n: [] for n in graph}
    for node, deps in graph.items():
        for dep in deps:
            dependants[dep].append(node)
    return list(reversed(_topo_order(graph))), dependants


def _longest_chains(plan: Plan, own: Mapping[str, int]) -> dict[str, int]:
    """For each task, the most ``own`` weight along a chain starting at it (itself included)."""
    order, dependants = _dependants(plan)
    total: dict[str, int] = {}
    for node in order:
        total[node] = own[node] + max((total[c] for c in dependants[node]), default=0)
    return total


def path_lengths(plan: Plan) -> dict[str, int]:
    """For each task, the number of tasks on the longest chain starting at it (itself included)."""
    return _longest_chains(plan, {t.id: 1 for t in plan.tasks})


def path_estimates_ms(plan: Plan) -> dict[str, int]:
    """For each task, the estimated time of the longest chain starting at it, in milliseconds: its own estimate
    plus the longest of its dependants'. A task without an estimate counts as the median of the plan's
    estimates; in a plan without any, every path is 0 (and tasks rank by :func:`path_lengths` alone)."""
    given = [t.estimate_s for t in plan.tasks if t.estimate_s is not None]
    if not given:
        return {t.id: 0 for t in plan.tasks}
    median = statistics.median(given)
    own = {t.id: round(1000 * (median if t.estimate_s is None else t.estimate_s)) for t in plan.tasks}
    return _longest_chains(plan, own)


def critical_path(plan: Plan) -> list[str]:
    """The longest dependency chain in estimated time, then in tasks, first task first (ties: plan order)."""
    if not plan.tasks:
        return []
    lengths, estimates = path_lengths(plan), path_estimates_ms(plan)
    length = {t.id: (estimates[t.id], lengths[t.id]) for t in plan.tasks}
    _, dependants = _dependants(plan)
    node = max((t.id for t in plan.tasks if not t.depends_on), key=lambda n: length[n])
    path = [node]
    while dependants[node]:
        node = max(dependants[node], key=lambda n: length[n])
        path.append(node)
    return path
