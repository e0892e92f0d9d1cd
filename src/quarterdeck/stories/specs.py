"""Records become task specs: duplicates, unknown references and cycles reported, done work left out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from string import Template

from quarterdeck.domain import ids, plans
from quarterdeck.errors import PlanError, Problem, UnsafeNameError
from quarterdeck.stories import deps, prompt, records, statuses

__all__ = ["DEFAULT_POLICY", "Built", "build", "from_plan", "policy_for"]

#: The dependency policy each format gets when ``--deps`` is not given.
DEFAULT_POLICY: Mapping[str, str] = {
    "bmad": deps.SEQUENTIAL,
    "speckit": deps.SEQUENTIAL,
    "kiro": deps.SEQUENTIAL,
    "markdown": deps.EXPLICIT,
    "taskmaster": deps.EXPLICIT,
    "github": deps.EXPLICIT,
    "plan": deps.EXPLICIT,
}


@dataclass(frozen=True, slots=True)
class Built:
    """The task specs to schedule, in input order, and the records they came from."""

    tasks: tuple[plans.TaskSpec, ...]
    records: tuple[records.Record, ...]


def policy_for(fmt: str, chosen: str | None) -> str:
    """``chosen`` when given, else the format's default (see :data:`DEFAULT_POLICY`)."""
    return chosen or DEFAULT_POLICY.get(fmt, deps.EXPLICIT)


def from_plan(plan: plans.Plan) -> list[records.Record]:
    """Records for the tasks of a Quarterdeck plan file (kept whole in ``spec``)."""
    return [
        records.Record(
            id=t.id,
            title=t.title,
            format="plan",
            source=t.source,
            statement=t.prompt,
            acceptance_criteria=tuple(records.Criterion(c.id, c.text) for c in t.acceptance_criteria),
            depends_on=tuple(records.DepRef(d, t.source.line) for d in t.depends_on),
            verify=t.verify,
            spec=t,
        )
        for t in plan.tasks
    ]


def build(items: Sequence[records.Record], *, policy: str | None = None, template: Template | None = None) -> Built:
    """Check the records as a whole and turn the ones still to do into task specs.

    Raises:
        PlanError: every duplicate id (naming both places), unsafe id, reference to an unknown story,
            self-reference and dependency cycle (``3.3 → 3.4 → 3.3``), each as ``path:line: message``.
    """
    problems: list[Problem] = []
    by_id: dict[str, records.Record] = {}
    by_safe: dict[str, records.Record] = {}
    unique: list[records.Record] = []
    for record in items:
        where = record.source
        first = by_id.get(record.id) or by_safe.get(record.safe_id)
        if first is not None:
            problems.append(
                Problem(
                    where.path,
                    where.line,
                    f"duplicate story id {record.id!r}: also at {first.source.path}:{first.source.line}",
                )
            )
            continue
        try:
            ids.check_safe_name(record.safe_id, what="story id")
        except UnsafeNameError as exc:
            problems.append(Problem(where.path, where.line, exc.message))
        by_id[record.id] = record
        by_safe[record.safe_id] = record
        unique.append(record)
    implied = _implied(unique, policy)
    todo = [r for r in unique if r.status not in statuses.NOT_SCHEDULED]
    graph: dict[str, tuple[str, ...]] = {}
    for record in todo:
        wanted: list[str] = []
        for ref in record.depends_on:
            target = by_id.get(ref.ref)
            if target is None:
                problems.append(
                    Problem(record.source.path, ref.line, f"{record.id} depends on unknown story {ref.ref!r}")
                )
            elif target is record:
                problems.append(Problem(record.source.path, ref.line, f"{record.id} depends on itself"))
            elif target.status not in statuses.NOT_SCHEDULED:
                wanted.append(target.id)
        wanted.extend(implied.get(record.id, ()))
        graph[record.id] = tuple(dict.fromkeys(wanted))
    problems.extend(_cycles(graph, by_id))
    if problems:
        raise PlanError(sorted(problems, key=lambda p: (p.path, p.line)))
    tasks = tuple(_spec(r, tuple(by_id[d].safe_id for d in graph[r.id]), template) for r in todo)
    return Built(tasks, tuple(todo))


def _implied(items: Sequence[records.Record], policy: str | None) -> dict[str, tuple[str, ...]]:
    chains: dict[str, list[records.Record]] = {}
    for record in items:
        if record.chain and policy_for(record.format, policy) == deps.SEQUENTIAL:
            chains.setdefault(record.chain, []).append(record)
    out: dict[str, tuple[str, ...]] = {}
    for chain in chains.values():
        out.update(deps.implied(chain))
    return out


def _cycles(graph: dict[str, tuple[str, ...]], by_id: Mapping[str, records.Record]) -> list[Problem]:
    """Every node-disjoint cycle, each reported once at its first story."""
    out: list[Problem] = []
    remaining = dict(graph)
    while True:
        cycle = plans.find_cycle(remaining)
        if not cycle:
            return out
        first = by_id[cycle[0]].source
        out.append(Problem(first.path, first.line, "dependency cycle: " + " → ".join(cycle)))
        for node in cycle:
            remaining.pop(node, None)


def _spec(record: records.Record, depends_on: tuple[str, ...], template: Template | None) -> plans.TaskSpec:
    if record.spec is not None:
        return replace(record.spec, depends_on=depends_on)
    return plans.TaskSpec(
        id=record.safe_id,
        title=record.title,
        prompt=prompt.render(record, template, depends_on),
        depends_on=depends_on,
        runtime=plans.NO_RUNTIME,
        verify=record.verify,
        acceptance_criteria=tuple(plans.Criterion(c.id, c.text) for c in record.acceptance_criteria),
        source=record.source,
    )
