"""Story intake: read the formats teams already write and turn them into a validated plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from quarterdeck.domain import plans
from quarterdeck.errors import PlanError, Problem
from quarterdeck.stories import planfile

__all__ = ["LoadedPlan", "Skipped", "load_plan"]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file in an input folder that is not a story, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class LoadedPlan:
    """A validated plan and the files that were passed over while reading it."""

    plan: plans.Plan
    skipped: tuple[Skipped, ...] = field(default=())


def load_plan(path: Path, *, deps: str | None = None) -> LoadedPlan:
    """Read a plan file (or, later, a story folder) into a validated plan.

    Raises:
        PlanError: every problem found, each with ``path:line``.
    """
    del deps  # only meaningful for ordered story formats
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError([Problem(str(path), 0, f"cannot read: {exc}")]) from None
    return LoadedPlan(planfile.parse_plan(text, str(path)))
