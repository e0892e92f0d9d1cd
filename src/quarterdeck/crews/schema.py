"""What the manager and the reviewer must answer (JSON validated by pydantic), and its plan-file form."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Change",
    "CriterionDraft",
    "Judgement",
    "PlanDraft",
    "ReplanDraft",
    "ReviewDraft",
    "TaskDraft",
    "command_of",
    "criterion_text",
    "task_entry",
]

#: ``run: `command``` in a criterion's text: the criterion is checked by running that command
_RUN = re.compile(r"\brun:\s*`([^`]+)`")
_TICKS = re.compile(r"`([^`]+)`")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CriterionDraft(_Strict):
    """An acceptance criterion; one with a ``command`` is met exactly when the command exits 0."""

    text: str = Field(min_length=1)
    command: str | None = None


class TaskDraft(_Strict):
    """One task as the manager plans it."""

    id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    role: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    acceptance_criteria: list[CriterionDraft] = Field(min_length=1)
    verify: list[str] = Field(default_factory=list)
    #: the manager's estimate of the agent's cost for this task, in USD
    estimate_usd: float | None = Field(default=None, ge=0)
    max_revisions: int | None = Field(default=None, ge=0)


class PlanDraft(_Strict):
    """The manager's plan for a goal."""

    name: str = Field(min_length=1)
    summary: str = ""
    tasks: list[TaskDraft] = Field(min_length=1)


class Change(_Strict):
    """One change to the remaining plan: ``replace`` a task by one, ``split`` it into several, or ``drop`` it."""

    action: Literal["replace", "split", "drop"]
    task: str
    tasks: list[TaskDraft] = Field(default_factory=list)


class ReplanDraft(_Strict):
    """The manager's answer to a task that failed for good."""

    reason: str = Field(min_length=1)
    changes: list[Change] = Field(min_length=1)


class Judgement(_Strict):
    """The reviewer's judgement of one criterion, with evidence from the diff or the command output."""

    criterion: str
    status: Literal["met", "not_met", "cannot_tell"]
    evidence: str


class ReviewDraft(_Strict):
    """The reviewer's answer: one judgement per criterion it was asked about, a verdict and feedback."""

    criteria: list[Judgement]
    verdict: Literal["accept", "revise", "reject"]
    summary: str
    #: what the worker should change (sent back to the same agent session on ``revise``)
    feedback: str = ""


def criterion_text(criterion: CriterionDraft) -> str:
    """The criterion as a plan file holds it: a command is written into the text as ``run: `command```."""
    if criterion.command and criterion.command not in criterion.text:
        return f"{criterion.text} (run: `{criterion.command}`)"
    return criterion.text


def command_of(text: str, verify: list[str] | tuple[str, ...]) -> str | None:
    """The command that decides a criterion: one it carries (``run: `…```), or a verification command it names."""
    carried = _RUN.search(text)
    if carried:
        return str(carried.group(1)).strip()
    for quoted in _TICKS.findall(text):
        command = str(quoted).strip()
        if command in verify:
            return command
    return None


def task_entry(
    draft: TaskDraft, *, runtime: str, options: dict[str, Any], instructions: str, role: str, max_revisions: int
) -> dict[str, Any]:
    """A task of the plan file (``stories/planfile.py``) for the draft, given its role's runtime."""
    prompt = draft.prompt if not instructions else f"{draft.prompt}\n\n{instructions}"
    entry: dict[str, Any] = {
        "id": draft.id,
        "title": draft.title,
        "prompt": prompt,
        "runtime": runtime,
        "options": options,
        "role": role,
        "acceptance_criteria": [criterion_text(c) for c in draft.acceptance_criteria],
        "verify": list(draft.verify),
        "max_revisions": draft.max_revisions if draft.max_revisions is not None else max_revisions,
    }
    if draft.depends_on:
        entry["depends_on"] = list(draft.depends_on)
    return entry
