"""The manager: a goal becomes a validated plan of tasks with criteria, checks, dependencies and roles.

The manager's answer must match ``PlanDraft`` (``structured`` shows it its JSON errors once). The draft
becomes a plan file and is parsed by ``stories/planfile.py`` like any other plan, so it is validated the
same way; a cycle or an unknown dependency is sent back to the manager once, naming the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quarterdeck.crews.config import CrewConfig
from quarterdeck.crews.models import Asker
from quarterdeck.crews.schema import PlanDraft, TaskDraft, task_entry
from quarterdeck.domain import plans
from quarterdeck.errors import InputError, PlanError, Problem, QuarterdeckError
from quarterdeck.llm.structured import StructuredOutputError
from quarterdeck.stories import planfile

__all__ = ["SYSTEM", "GoalFailed", "Planned", "draft_to_plan_file", "plan_goal"]

SYSTEM = """You are the manager of a crew of coding agents working in one git repository.
Break the goal into a small set of tasks that together achieve it. For each task give: a short safe id
(letters, digits, '-', '_'), a title, a prompt the worker agent can act on alone, the worker role,
acceptance criteria (each one checkable; give a `command` when a shell command exiting 0 proves it),
verification commands run in the worktree after the agent, the ids of the tasks it depends on (no cycles),
and an estimate of its cost in USD."""


class GoalFailed(QuarterdeckError):
    """The manager could not produce a valid plan for the goal."""

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        self.problems = problems
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Planned:
    """A validated plan, the plan file it was parsed from, and the exchange that produced it."""

    plan: plans.Plan
    plan_file: dict[str, Any]
    draft: PlanDraft
    #: the manager's requests and answers, in order: (type, content)
    exchange: tuple[tuple[str, str], ...]

    def answer(self) -> dict[str, Any]:
        """What a checkpoint keeps of the manager's answer: enough to make the same plan again without asking."""
        return {
            "draft": self.draft.model_dump(mode="json"),
            "exchange": [list(pair) for pair in self.exchange],
            "source": self.plan.source.path,
        }

    @classmethod
    def from_answer(cls, answer: dict[str, Any], crew: CrewConfig) -> Planned:
        """The plan made again from a checkpointed :meth:`answer` (validated as when it arrived).

        Raises:
            PlanError: it is no longer a valid plan for ``crew``.
        """
        draft = PlanDraft.model_validate(answer["draft"])
        plan, plan_file = _parse(draft, crew, str(answer["source"]))
        exchange = tuple((str(kind), str(content)) for kind, content in answer["exchange"])
        return cls(plan=plan, plan_file=plan_file, draft=draft, exchange=exchange)


def draft_to_plan_file(tasks: list[TaskDraft], crew: CrewConfig, *, name: str) -> dict[str, Any]:
    """The plan file for drafted tasks, each given its role's runtime, options and instructions."""
    entries = []
    for draft in tasks:
        role_name, role = crew.role(draft.role)
        entries.append(
            task_entry(
                draft,
                runtime=role.runtime,
                options=role.task_options(),
                instructions=role.instructions,
                role=role_name,
                max_revisions=crew.max_revisions,
            )
        )
    return {"name": name, "tasks": entries}


def _prompt(goal: str, crew: CrewConfig) -> str:
    roles = "\n".join(
        f"- {name}: {role.instructions or 'general ' + name + ' work'}" for name, role in crew.roles.items()
    )
    return f"Goal:\n{goal}\n\nWorker roles (use these names for `role`):\n{roles}"


def _parse(draft: PlanDraft, crew: CrewConfig, source: str) -> tuple[plans.Plan, dict[str, Any]]:
    try:
        plan_file = draft_to_plan_file(draft.tasks, crew, name=draft.name)
    except InputError as exc:  # an unknown role
        raise PlanError([Problem(source, 0, exc.message)]) from None
    return planfile.parse_plan(json.dumps(plan_file, indent=2), source), plan_file


async def plan_goal(goal: str, crew: CrewConfig, asker: Asker) -> Planned:
    """Ask the manager for a plan; re-ask once when it is invalid as a plan (a cycle, an unknown dependency).

    Raises:
        GoalFailed: the answer was not valid JSON for the schema after the repair, or the plan was
            still invalid after the second request; the message lists every problem.
    """
    if not goal.strip():
        raise InputError("the goal is empty: say what the crew should achieve")
    prompt = _prompt(goal, crew)
    exchange: list[tuple[str, str]] = [("goal", prompt)]
    for round_ in (1, 2):
        try:
            draft = await asker.ask(PlanDraft, prompt, system=SYSTEM)
        except StructuredOutputError as exc:
            raise GoalFailed(
                f"the manager's plan is not valid: {exc.message}\nits answer was: {exc.answer[:2000]}",
                problems=(exc.message,),
            ) from None
        exchange.append(("plan", draft.model_dump_json(indent=2)))
        source = f"<manager plan, round {round_}>.json"
        try:
            plan, plan_file = _parse(draft, crew, source)
        except PlanError as exc:
            problems = tuple(p.message for p in exc.problems)
            if round_ == 2:
                raise GoalFailed(
                    "the manager's plan is still invalid after it was asked again:\n"
                    + "\n".join(f"  {p}" for p in problems),
                    problems=problems,
                ) from None
            prompt = (
                f"{prompt}\n\nYour previous plan was:\n{draft.model_dump_json()}\n\n"
                "It is not a valid plan:\n"
                + "\n".join(f"- {p}" for p in problems)
                + "\nAnswer again with the whole corrected plan."
            )
            exchange.append(("revision", prompt))
            continue
        return Planned(plan=plan, plan_file=plan_file, draft=draft, exchange=tuple(exchange))
    raise AssertionError("unreachable")
