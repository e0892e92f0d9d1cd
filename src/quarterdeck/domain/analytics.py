"""Crew analytics as pure arithmetic: how ended tasks did, grouped by role, runtime, model, project, run,
story, day or week. The store reads the facts (``store/analytics.py``); this module only adds them up.

Definitions (the documentation quotes them, docs/analytics.md):

* a task counts once it has ended (succeeded, failed, conflict or cancelled) and was tried at least once;
  a blocked task never ran and is not counted;
* **success** is ``succeeded``; **first-attempt success** is ``succeeded`` with no failed attempt before
  (an attempt lost to a dead worker is not the task's failure); **dead letters** are failed, conflict and
  cancelled tasks;
* **revisions** are the turns sent back to the agent by a failed check or by the reviewer;
* a task's **model** is the model it spent most on (``—`` when it spent nothing);
* the **phases** of a task come from its events, in order: from each ``task.ready`` to the next
  ``task.claimed`` it was *waiting*; within an attempt (from ``task.claimed`` to its end) each interval
  between two events belongs to the phase of the event that ends it: ``agent.*`` → *agent*,
  ``verify.result``/``setup.result`` → *checks*, ``review.verdict``/``approval.*`` → *review*,
  ``merge.*``/``push.*`` → *landing*, anything else (workspace, commit) → *other*. Events are recorded
  in batches every 0.1 s, so phases are exact to about that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from quarterdeck.domain import durations

__all__ = [
    "GROUPINGS",
    "PHASES",
    "Group",
    "Grouping",
    "Phases",
    "Report",
    "TaskFact",
    "key_of",
    "parse_window",
    "phases_of",
    "summarise",
]

Grouping = Literal["role", "runtime", "model", "project", "run", "story", "day", "week"]
GROUPINGS: tuple[Grouping, ...] = ("role", "runtime", "model", "project", "run", "story", "day", "week")
PHASES = ("waiting", "agent", "checks", "review", "landing", "other")
NONE = "—"

_ENDS = frozenset({"task.succeeded", "task.failed", "task.cancelled", "lease.expired", "task.released"})


@dataclass(frozen=True, slots=True)
class Phases:
    """Seconds a task spent in each phase (see the module's docstring)."""

    waiting: float = 0.0
    agent: float = 0.0
    checks: float = 0.0
    review: float = 0.0
    landing: float = 0.0
    other: float = 0.0

    def get(self, name: str) -> float:
        return float(getattr(self, name))


def _phase(event_type: str) -> str:
    if event_type.startswith("agent."):
        return "agent"
    if event_type in ("verify.result", "setup.result"):
        return "checks"
    if event_type == "review.verdict" or event_type.startswith("approval."):
        return "review"
    if event_type.startswith(("merge.", "push.")):
        return "landing"
    return "other"


def phases_of(events: Iterable[tuple[str, datetime]]) -> Phases:
    """A task's phases from its events (type, time), in the order they were recorded."""
    totals = dict.fromkeys(PHASES, 0.0)
    ready: datetime | None = None
    last: datetime | None = None  # inside an attempt: the previous event's time
    for event_type, at in events:
        if event_type == "task.ready":
            ready, last = at, None
        elif event_type == "task.claimed":
            if ready is not None:
                totals["waiting"] += max(0.0, (at - ready).total_seconds())
            ready, last = None, at
        elif last is not None:
            totals["other" if event_type in _ENDS else _phase(event_type)] += max(0.0, (at - last).total_seconds())
            last = None if event_type in _ENDS else at
    return Phases(**totals)


@dataclass(frozen=True, slots=True)
class TaskFact:
    """One ended task, as analytics sees it."""

    run_id: str
    task_id: str
    project_id: str | None
    role: str | None
    runtime: str
    story: str
    status: str
    attempts: int
    failures: int
    revisions: int
    finished_at: datetime
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = NONE
    phases: Phases = field(default_factory=Phases)
    #: review verdicts given (accept / revise / reject → how many)
    verdicts: dict[str, int] = field(default_factory=dict)
    #: criteria judged (met / not_met / cannot_tell → how many)
    criteria: dict[str, int] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def dead(self) -> bool:
        return self.status in ("failed", "conflict", "cancelled")


def key_of(fact: TaskFact, by: Grouping) -> str:
    if by == "role":
        return fact.role or NONE
    if by == "runtime":
        return fact.runtime
    if by == "model":
        return fact.model
    if by == "project":
        return fact.project_id or NONE
    if by == "run":
        return fact.run_id
    if by == "story":
        return fact.story
    if by == "day":
        return fact.finished_at.date().isoformat()
    year, week, _ = fact.finished_at.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class Group:
    """The figures of one group of ended tasks."""

    key: str
    tasks: int
    succeeded: int
    first_attempt: int
    dead: int
    attempts: int
    revisions: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    #: total seconds per phase (``PHASES``)
    seconds: dict[str, float]
    verdicts: dict[str, int]
    criteria: dict[str, int]

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.tasks

    @property
    def first_attempt_rate(self) -> float:
        return self.first_attempt / self.tasks

    @property
    def revisions_per_task(self) -> float:
        return self.revisions / self.tasks

    @property
    def attempts_per_task(self) -> float:
        return self.attempts / self.tasks

    @property
    def cost_per_task(self) -> float:
        return self.cost_usd / self.tasks

    def seconds_per_task(self, phase: str) -> float:
        return self.seconds[phase] / self.tasks

    def figures(self) -> dict[str, Any]:
        """The group as plain data (the CLI's ``--json``, the API's rows): counts, totals and rates."""
        return {
            "key": self.key,
            "tasks": self.tasks,
            "succeeded": self.succeeded,
            "first_attempt": self.first_attempt,
            "dead": self.dead,
            "success_rate": round(self.success_rate, 4),
            "first_attempt_rate": round(self.first_attempt_rate, 4),
            "attempts_per_task": round(self.attempts_per_task, 4),
            "revisions_per_task": round(self.revisions_per_task, 4),
            "cost_usd": round(self.cost_usd, 6),
            "cost_per_task_usd": round(self.cost_per_task, 6),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds_per_task": {p: round(self.seconds_per_task(p), 3) for p in PHASES},
            "verdicts": dict(self.verdicts),
            "criteria": dict(self.criteria),
        }


def _added(into: dict[str, int], more: dict[str, int]) -> None:
    for name, count in more.items():
        into[name] = into.get(name, 0) + count


def summarise(facts: Sequence[TaskFact], by: Grouping | None) -> list[Group]:
    """The groups of ``facts`` ``by`` a key: days and weeks in order, others by most tasks first
    (``by`` None: one group of them all, keyed ``all``)."""
    grouped: dict[str, list[TaskFact]] = {}
    for fact in facts:
        grouped.setdefault("all" if by is None else key_of(fact, by), []).append(fact)
    groups = []
    for key, members in grouped.items():
        verdicts: dict[str, int] = {}
        criteria: dict[str, int] = {}
        for fact in members:
            _added(verdicts, fact.verdicts)
            _added(criteria, fact.criteria)
        groups.append(
            Group(
                key=key,
                tasks=len(members),
                succeeded=sum(f.succeeded for f in members),
                first_attempt=sum(f.succeeded and f.failures == 0 for f in members),
                dead=sum(f.dead for f in members),
                attempts=sum(f.attempts for f in members),
                revisions=sum(f.revisions for f in members),
                cost_usd=sum(f.cost_usd for f in members),
                input_tokens=sum(f.input_tokens for f in members),
                output_tokens=sum(f.output_tokens for f in members),
                seconds={p: sum(f.phases.get(p) for f in members) for p in PHASES},
                verdicts=verdicts,
                criteria=criteria,
            )
        )
    if by in ("day", "week"):
        return sorted(groups, key=lambda g: g.key)
    return sorted(groups, key=lambda g: (-g.tasks, g.key))


@dataclass(frozen=True, slots=True)
class Report:
    """Analytics over a window: the groups, and every ended task together (``total``, None when there are none)."""

    since: datetime
    until: datetime
    by: Grouping
    groups: list[Group]
    total: Group | None

    def figures(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "by": self.by,
            "groups": [g.figures() for g in self.groups],
            "total": self.total.figures() if self.total is not None else None,
        }


def _moment(text: str, now: datetime, what: str) -> datetime:
    text = text.strip()
    try:
        if text[-1:].isalpha():  # an age: 7d, 12h, 4w
            return now - timedelta(seconds=durations.seconds_in(text))
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        hint = "give a date (2026-12-01), a time (2026-12-01T09:00) or an age (7d, 12h, 4w)"
        raise ValueError(f"{what} {text!r}: {hint}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` from dates, times or ages (``7d``); by default the last 30 days up to now."""
    start = _moment(since, now, "since") if since else now - timedelta(days=30)
    end = _moment(until, now, "until") if until else now
    if start >= end:
        raise ValueError(f"the window is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    return start, end
