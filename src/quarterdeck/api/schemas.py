"""Request and response models, so that the OpenAPI schema says exactly what goes over the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "ApprovalPublic",
    "AttemptPublic",
    "AuditEntryPublic",
    "BudgetAdd",
    "CostRow",
    "Decision",
    "DiffPublic",
    "ErrorBody",
    "ErrorResponse",
    "EventPublic",
    "Health",
    "LoginRequest",
    "Page",
    "Prioritize",
    "ProjectCreate",
    "ProjectPublic",
    "ProjectUpdate",
    "QueuePublic",
    "QueueTask",
    "Readiness",
    "RefreshRequest",
    "RotationPublic",
    "RunCreate",
    "RunDetail",
    "RunSummary",
    "RuntimeHealth",
    "RuntimePublic",
    "SecretPublic",
    "SecretSet",
    "SteerResult",
    "TaskDetail",
    "TaskRow",
    "TokenResponse",
    "UserCreate",
    "UserPublic",
    "UserUpdate",
    "VerdictPublic",
]

T = TypeVar("T")

RoleName = Literal["viewer", "member", "admin"]


class _In(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    #: a stable, machine-readable reason (``not_found``, ``plan_cycle``, …)
    code: str
    message: str
    #: what explains it: problems with path and line, the cycle, invalid fields
    details: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    error: ErrorBody


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one (null: no more)."""

    items: list[T]
    next_cursor: str | None


# --- auth and users -----------------------------------------------------------------------------------------


class LoginRequest(_In):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(_In):
    #: the refresh token; may be left out when the ``qd_refresh`` cookie carries it
    refresh_token: str | None = Field(default=None, max_length=200)


class UserPublic(BaseModel):
    id: str | None
    email: str | None
    name: str
    role: RoleName
    org_id: str
    #: set when the caller is an API key rather than a signed-in user
    api_key_id: str | None = None
    created_at: datetime | None = None
    disabled: bool = False


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    #: seconds until the access token expires
    expires_in: int
    user: UserPublic


class UserCreate(_In):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=200)
    role: RoleName = "member"
    password: str = Field(min_length=1, max_length=1024)


class UserUpdate(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: RoleName | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool | None = None


# --- API keys and secrets ---------------------------------------------------------------------------------


class ApiKeyCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    role: RoleName = "member"
    #: days until the key stops working; none: until revoked
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    #: the key's public part (``qdk_<prefix>_…``), to recognise it
    prefix: str
    role: RoleName
    user_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    #: the key itself: shown this once, never stored
    key: str


class SecretSet(_In):
    value: str = Field(min_length=1, max_length=16384)
    kind: Literal["provider_key", "git_credential", "other"] = "other"


class SecretPublic(BaseModel):
    name: str
    kind: str
    #: e.g. ``sk-…a1b2``; the value itself is never returned
    masked: str
    key_id: str
    created_at: datetime
    updated_at: datetime


class RotationPublic(BaseModel):
    #: secrets sealed again with the newest key
    resealed: int
    key_id: str


# --- projects ---------------------------------------------------------------------------------------------


class ProjectCreate(_In):
    name: str = Field(min_length=1, max_length=128)
    repo_path: str = Field(min_length=1, max_length=4096)
    settings: dict[str, Any] = Field(default_factory=dict)


class ProjectUpdate(_In):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    repo_path: str | None = Field(default=None, min_length=1, max_length=4096)
    settings: dict[str, Any] | None = None


class ProjectPublic(BaseModel):
    id: str
    name: str
    repo_path: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


# --- runs and tasks ---------------------------------------------------------------------------------------


class RunCreate(_In):
    """Start a run: a plan file object (``plan``) or a plan or story path on the server (``path``)."""

    plan: dict[str, Any] | None = None
    path: str | None = Field(default=None, min_length=1, max_length=4096)
    #: the git repository on the server; default: the project's
    repo: str | None = Field(default=None, min_length=1, max_length=4096)
    project_id: str | None = Field(default=None, max_length=32)
    base: str = Field(default="HEAD", min_length=1, max_length=200)
    branch: str | None = Field(default=None, min_length=1, max_length=200)
    budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    #: default: the project's ``[merge] strategy``, else squash
    merge_strategy: Literal["squash", "merge", "rebase"] | None = None
    #: dependency policy for ordered story formats
    deps: Literal["sequential", "explicit"] | None = None
    goal: str | None = Field(default=None, max_length=10000)


class GoalCreate(_In):
    """Give a crew a goal: its manager plans it (from the repository's crew config) and the plan runs."""

    goal: str = Field(min_length=1, max_length=10000)
    #: the git repository on the server; default: the project's
    repo: str | None = Field(default=None, min_length=1, max_length=4096)
    project_id: str | None = Field(default=None, max_length=32)
    base: str = Field(default="HEAD", min_length=1, max_length=200)
    branch: str | None = Field(default=None, min_length=1, max_length=200)
    budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    #: the plan waits for a decision in the approvals inbox before anything runs (false: it runs at once)
    approve: bool = True


class RunSummary(BaseModel):
    id: str
    name: str
    status: str
    repo_path: str
    integration_branch: str
    budget_usd: float | None
    spent_usd: float
    created_at: datetime
    finished_at: datetime | None
    goal: str | None
    project_id: str | None
    error: str | None
    #: task status → how many tasks are in it
    counts: dict[str, int]
    total_tasks: int


class TaskRow(BaseModel):
    id: str
    run_id: str
    title: str
    status: str
    priority: int
    depends_on: list[str]
    runtime: str
    role: str | None
    attempts: int
    revisions: int
    cost_usd: float
    path_length: int
    error: str | None
    commit_sha: str | None
    started_at: datetime | None
    finished_at: datetime | None


class RunDetail(RunSummary):
    base_ref: str
    merge_strategy: str
    tasks: list[TaskRow]
    #: the longest dependency chain, first task first
    critical_path: list[str]


class AttemptPublic(BaseModel):
    id: str
    number: int
    status: str
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    branch: str | None
    commit_sha: str | None
    cost_usd: float
    error: str | None


class VerdictPublic(BaseModel):
    attempt_id: str
    revision: int
    verdict: str
    criteria: list[dict[str, Any]]
    summary: str
    reviewer: str
    created_at: datetime


class TaskDetail(TaskRow):
    prompt: str
    acceptance_criteria: list[dict[str, str]]
    verify: list[str]
    max_attempts: int
    attempts_detail: list[AttemptPublic]
    verdicts: list[VerdictPublic]
    #: the branch of the newest attempt
    branch: str | None


class DiffPublic(BaseModel):
    #: the commit the diff shows (the task's landed commit, or its newest attempt's)
    commit: str | None
    stat: str
    diff: str
    truncated: bool


class BudgetAdd(_In):
    add_usd: float = Field(gt=0, le=1_000_000)


class Prioritize(_In):
    priority: int = Field(ge=-1_000_000, le=1_000_000)


class SteerResult(BaseModel):
    """What a steering action did: the run's status and the tasks it touched."""

    run_id: str
    status: str
    #: cancelled, blocked or waiting-again tasks, depending on the action
    tasks: list[str]
    budget_usd: float | None = None


class QueueTask(BaseModel):
    run_id: str
    id: str
    title: str
    status: str
    priority: int
    runtime: str
    role: str | None
    attempts: int
    worker_id: str | None
    started_at: datetime | None
    not_before: datetime | None


class QueuePublic(BaseModel):
    ready: list[QueueTask]
    running: list[QueueTask]
    waiting: list[QueueTask]


class CostRow(BaseModel):
    key: str
    entries: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    #: entries whose model has no known price (recorded at 0)
    unpriced: int


class EventPublic(BaseModel):
    id: int
    run_id: str
    task_id: str | None
    attempt_id: str | None
    type: str
    payload: dict[str, Any]
    created_at: datetime


class AuditEntryPublic(BaseModel):
    at: datetime
    kind: str
    sender: str
    recipient: str | None
    task_id: str | None
    summary: str
    data: dict[str, Any]


class ApprovalPublic(BaseModel):
    id: str
    run_id: str | None
    task_id: str | None
    kind: str
    status: str
    payload: dict[str, Any]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class GoalStarted(BaseModel):
    """The run a goal became, and the plan approval it waits for (None when it runs at once)."""

    run: RunSummary
    approval: ApprovalPublic | None


class Decision(_In):
    reason: str | None = Field(default=None, max_length=2000)


class RuntimeHealth(BaseModel):
    ok: bool
    detail: str


class RuntimePublic(BaseModel):
    name: str
    #: runs in a git worktree of its own
    needs_workspace: bool
    #: an agent CLI it drives, checked for presence, version and credentials; null for built-in runtimes
    health: RuntimeHealth | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: bool
    bus: bool
