"""Story intake: read the formats teams already write and turn them into a validated plan."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from quarterdeck.domain import plans
from quarterdeck.errors import PlanError, Problem
from quarterdeck.stories import deps, detect, documents, folder, planfile, prompt, records, specs, statuses

__all__ = ["POLICIES", "LoadedPlan", "Skipped", "load_plan", "load_template", "require_tasks"]

POLICIES = deps.POLICIES
Skipped = folder.Skipped
_Record = records.Record


@dataclass(frozen=True, slots=True)
class LoadedPlan:
    """A validated plan, the files passed over while reading it, and the records of the tasks it holds."""

    plan: plans.Plan
    skipped: tuple[Skipped, ...] = field(default=())
    records: tuple[records.Record, ...] = field(default=())
    #: the stories read and not planned because they are done or cancelled
    finished: tuple[_Record, ...] = field(default=())
    _status: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._status.update((r.safe_id, r.status) for r in self.records)

    def status_of(self, task_id: str) -> str:
        """The normalised status of a planned task (``ready`` when its format has none)."""
        return self._status.get(task_id, "ready")


def load_template(path: Path) -> Template:
    """Read and check a prompt template file (see ``prompt.PLACEHOLDERS``).

    Raises:
        PlanError: the file cannot be read, or names an unknown placeholder.
    """
    text, problem = folder.read_text(path, str(path))
    if problem is not None or text is None:
        raise PlanError([problem or Problem(str(path), 0, "cannot read")])
    return prompt.check_template(text, str(path))


def load_plan(
    path: Path,
    *,
    deps: str | None = None,
    prompt_template: Path | None = None,
) -> LoadedPlan:
    """Read a file or folder of stories in any supported format into a validated plan.

    ``deps`` is ``"sequential"`` or ``"explicit"``; None picks each format's default (sequential
    for BMAD, spec-kit and Kiro; explicit for the rest).  Done items are left out of the plan.

    Raises:
        PlanError: every problem found, each with ``path:line``, in one pass.
    """
    if deps is not None and deps not in POLICIES:
        raise PlanError([Problem("--deps", 0, f"unknown policy {deps!r} (use {' or '.join(POLICIES)})")])
    template = load_template(prompt_template) if prompt_template is not None else None
    if path.is_file() and path.suffix.lower() in (".json", ".yaml", ".yml"):
        plan = _plan_file(path)
        if plan is not None:
            return LoadedPlan(plan)
    intake = folder.read(path)
    built: specs.Built | None = None
    problems = list(intake.problems)
    try:
        built = specs.build(intake.records, policy=deps, template=template)
    except PlanError as exc:
        problems.extend(exc.problems)
    if problems or built is None:
        raise PlanError(_ordered(problems))
    if not intake.records and not intake.skipped:
        raise PlanError([Problem(str(path), 0, "no stories found")])
    name = path.stem if path.is_file() else path.resolve().name
    plan = plans.validate(plans.Plan(name=name or "plan", tasks=built.tasks, source=plans.SourceRef(str(path), 0)))
    finished = tuple(r for r in intake.records if r.status in statuses.NOT_SCHEDULED)
    return LoadedPlan(plan, tuple(intake.skipped), built.records, finished)


def require_tasks(loaded: LoadedPlan, path: Path) -> None:
    """Refuse to run a plan that holds no task, naming every story left out and every file skipped, and why.

    Raises:
        PlanError: the plan has no task (all its stories are done or cancelled, or no file is a story).
    """
    if loaded.plan.tasks:
        return
    finished = loaded.finished
    summary = f"{len(finished)} done or cancelled, {len(loaded.skipped)} file(s) skipped"
    problems = [Problem(str(path), 0, f"nothing to run: no task to schedule ({summary})")]
    for record in finished:
        where = record.status_line or record.source.line
        raw = f" ({record.status_raw})" if record.status_raw and record.status_raw != record.status else ""
        problems.append(Problem(record.source.path, where, f"{record.id!r} is {record.status}{raw}: not scheduled"))
    problems += [Problem(s.path, 0, f"skipped: {s.reason}") for s in loaded.skipped]
    raise PlanError(problems)


def _plan_file(path: Path) -> plans.Plan | None:
    """A single plan file, parsed directly (the fast path); None when the file is something else."""
    text, problem = folder.read_text(path, str(path))
    if problem is not None or text is None:
        raise PlanError([problem or Problem(str(path), 0, "cannot read")])
    if path.suffix.lower() == ".json":
        # What detect.detect does for JSON, keeping the decoded value so it is decoded once, not twice.
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return None  # read again as a folder, which reports the problem
        if not detect.looks_like_plan_data(data):
            return None
        return planfile.parse_plan(text, str(path), parsed=documents.Loaded(data))
    if detect.detect(text, str(path)).format != "plan":
        return None
    return planfile.parse_plan(text, str(path))


def _ordered(problems: list[Problem]) -> list[Problem]:
    return sorted(dict.fromkeys(problems), key=lambda p: (p.path, p.line))
