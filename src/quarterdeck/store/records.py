"""Plain records the store hands out; database rows never leave the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.statuses import AttemptStatus, RunStatus, TaskStatus

__all__ = ["AttemptRecord", "Claim", "EventRecord", "RunRecord", "TaskRecord"]


class _FromRow:
    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        names = _FIELDS.get(cls)
        if names is None:
            names = _FIELDS[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return cls(**{name: row[name] for name in names})

    @classmethod
    def from_columns(cls, row: Sequence[Any]) -> Self:
        """From a row of every column of the record's table, in the table's order (``select(table)``,
        ``returning(*table.c)``): positional, cheaper than by name on hot paths (claims)."""
        return cls(*row)


_FIELDS: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class RunRecord(_FromRow):
    id: str
    name: str
    status: RunStatus
    repo_path: str
    base_ref: str
    integration_branch: str
    merge_strategy: str
    plan_path: str
    budget_usd: float | None
    spent_usd: float
    reserved_usd: float
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None
    org_id: str
    project_id: str | None
    goal: str | None
    traceparent: str | None = None
    #: what a ``waiting`` run waits for (``WaitingFor``), else None
    waiting_for: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))


@dataclass(frozen=True, slots=True)
class TaskRecord(_FromRow):
    pk: int
    run_id: str
    id: str
    seq: int
    title: str
    prompt: str
    runtime: str
    options: dict[str, Any]
    verify: list[str]
    acceptance_criteria: list[dict[str, str]]
    source_path: str
    source_line: int
    priority: int
    path_length: int
    max_attempts: int
    timeout_s: float
    budget_usd: float | None
    max_revisions: int
    status: TaskStatus
    pending_deps: int
    attempts: int
    failures: int
    not_before: datetime | None
    worker_id: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    attempt_id: str | None
    commit_sha: str | None
    #: read from the stored JSON object (or NULL) in ``__post_init__``
    checkpoint: Checkpoint
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    role: str | None
    revisions: int
    allow_empty: bool
    files: list[str]
    provider_key: str | None = None
    estimate_s: float | None = None
    path_estimate_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TaskStatus(self.status))
        if not isinstance(self.checkpoint, Checkpoint):
            object.__setattr__(self, "checkpoint", Checkpoint.from_json(self.checkpoint))


@dataclass(frozen=True, slots=True)
class AttemptRecord(_FromRow):
    id: str
    task_pk: int
    number: int
    status: AttemptStatus
    worker_id: str
    lease_token: str
    heartbeat_at: datetime
    started_at: datetime
    finished_at: datetime | None
    branch: str | None
    worktree: str | None
    commit_sha: str | None
    reserved_usd: float
    cost_usd: float
    port: int | None
    error: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", AttemptStatus(self.status))


@dataclass(frozen=True, slots=True)
class EventRecord(_FromRow):
    id: int
    run_id: str
    task_id: str | None
    attempt_id: str | None
    type: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """A task a worker now holds under a lease, with the attempt it opened."""

    task: TaskRecord
    attempt_id: str
    attempt_number: int
    lease_token: str
