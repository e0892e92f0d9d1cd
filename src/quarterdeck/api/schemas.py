"""Request and response models, so that the OpenAPI schema says exactly what goes over the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from quarterdeck.api.inputs import Line, check_text, check_tree

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
    """Request bodies refuse unknown fields, so a typo is an error rather than ignored, and follow the
    input policy (``inputs.py``): no NUL or other control character in any string, nested ones too;
    ``Line`` fields are single lines."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _policy(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return check_text(value)
        if isinstance(value, dict | list):
            return check_tree(value)
        return value


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
    email: Line = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(_In):
    #: the refresh token; may be left out when the ``qd_refresh`` cookie carries it
    refresh_token: Line | None = Field(default=None, max_length=200)


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
    email: Line = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: Line = Field(min_length=1, max_length=200)
    role: RoleName = "member"
    password: str = Field(min_length=1, max_length=1024)


class UserUpdate(_In):
    name: Line | None = Field(default=None, min_length=1, max_length=200)
    role: RoleName | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool | None = None


# --- API keys and secrets ---------------------------------------------------------------------------------


#: what a key may do, by name: ``read`` is the viewer role, ``run`` the member role, ``admin`` the admin role
ScopeName = Literal["read", "run", "admin"]
SCOPES: dict[str, RoleName] = {"read": "viewer", "run": "member", "admin": "admin"}


class ApiKeyCreate(_In):
    name: Line = Field(min_length=1, max_length=200)
    #: the key's role (default member); or give ``scope``
    role: RoleName | None = None
    #: the key's scope, another name for its role: ``read`` (viewer), ``run`` (member), ``admin``
    scope: ScopeName | None = None
    #: days until the key stops working; none: until revoked
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _one_role(self) -> ApiKeyCreate:
        if self.role is not None and self.scope is not None and SCOPES[self.scope] != self.role:
            raise ValueError(f"scope {self.scope!r} is the {SCOPES[self.scope]} role, not {self.role}: give one")
        return self

    def granted_role(self) -> RoleName:
        return self.role or (SCOPES[self.scope] if self.scope else "member")


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    #: the key's public part (``qdk_<prefix>_…``), to recognise it
    prefix: str
    #: the most the key may do; never more than its owner's role at the time of a request
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
    name: Line = Field(min_length=1, max_length=128)
    repo_path: Line = Field(min_length=1, max_length=4096)
    settings: dict[str, Any] = Field(default_factory=dict)


class ProjectUpdate(_In):
    name: Line | None = Field(default=None, min_length=1, max_length=128)
    repo_path: Line | None = Field(default=None, min_length=1, max_length=4096)
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
    path: Line | None = Field(default=None, min_length=1, max_length=4096)
    #: the git repository on the server; default: the project's
    repo: Line | None = Field(default=None, min_length=1, max_length=4096)
    project_id: Line | None = Field(default=None, max_length=32)
    base: Line = Field(default="HEAD", min_length=1, max_length=200)
    branch: Line | None = Field(default=None, min_length=1, max_length=200)
    budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    #: default: the project's ``[merge] strategy``, else squash
    merge_strategy: Literal["squash", "merge", "rebase"] | None = None
    #: dependency policy for ordered story formats
    deps: Literal["sequential", "explicit"] | None = None
    goal: str | None = Field(default=None, max_length=10000)
    #: the runtime of tasks that name none (story files, plans without one); default: the project's [run] agent
    agent: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class GoalCreate(_In):
    """Give a crew a goal: its manager plans it (from the repository's crew config) and the plan runs."""

    goal: str = Field(min_length=1, max_length=10000)
    #: the git repository on the server; default: the project's
    repo: Line | None = Field(default=None, min_length=1, max_length=4096)
    project_id: Line | None = Field(default=None, max_length=32)
    base: Line = Field(default="HEAD", min_length=1, max_length=200)
    branch: Line | None = Field(default=None, min_length=1, max_length=200)
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
    #: what a ``waiting`` run waits for a person to decide: plan | replan | budget | merge (null otherwise)
    waiting_for: str | None = None
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
    #: how long the plan expects the task to take, in seconds (null: not estimated)
    estimate_s: float | None = None
    #: the estimated time of the longest chain starting at the task, itself included (0: the plan has no estimates)
    path_estimate_s: float = 0.0
    error: str | None
    commit_sha: str | None
    started_at: datetime | None
    finished_at: datetime | None


class PullRequestPublic(BaseModel):
    """A pull request (or merge request) the run opened, or the issue it was started from."""

    #: pull | issue
    kind: str
    #: github | gitlab
    forge: str
    repository: str
    number: int
    url: str
    #: open (a draft) | ready | done
    state: str
    #: the task of a per-task pull request (empty for the run's own)
    task_id: str


class RunDetail(RunSummary):
    base_ref: str
    merge_strategy: str
    tasks: list[TaskRow]
    #: the longest dependency chain, first task first
    critical_path: list[str]
    #: its pull requests on GitHub / GitLab, and the issue it was started from
    pull_requests: list[PullRequestPublic] = Field(default_factory=list)


class HookReceived(BaseModel):
    """What a webhook delivery did: ``run r_…``, ``revision …``, ``ready``, ``ignored: …`` or ``duplicate``."""

    outcome: str
    run_id: str | None
    duplicate: bool


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
    #: the run's name and status (a ready task of a paused run waits for the run, not for a worker)
    run_name: str | None = None
    run_status: str | None = None
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
    #: why a ready task waits although workers are live: it requires what none of them offers
    waits: str | None = None


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
    #: display names: the run's, and the users' who asked and decided (null for the crew's manager or an API key)
    run_name: str | None = None
    requested_by_name: str | None = None
    decided_by_name: str | None = None
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
    """The run a goal became (``planning``: the plan arrives by events); ``approval`` is always null here
    (kept for clients of the synchronous version: the plan's approval is listed by ``GET /approvals``)."""

    run: RunSummary
    approval: ApprovalPublic | None


class PlanEdit(_In):
    """A plan approval's plan as a person edited it: a plan file (YAML or JSON, as ``plan.yaml``)."""

    plan: str = Field(min_length=1, max_length=200_000)


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


class WorkerPublic(BaseModel):
    """A worker of the fleet, as it last reported itself."""

    id: str
    hostname: str
    pid: int
    #: heard from within three heartbeats and not stopped
    live: bool
    slots: int
    running: int
    labels: list[str]
    runtimes: list[str]
    #: repositories it could not reach lately (it leaves their tasks to others)
    unreachable: list[str]
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: bool
    bus: bool


# --- notifications --------------------------------------------------------------------------------------------

NotificationKind = Literal[
    "approval.needed",
    "run.succeeded",
    "run.failed",
    "run.waiting",
    "budget.exhausted",
    "task.dead_lettered",
    "task.conflict",
]


class SubscriptionCreate(_In):
    """``org`` and ``project`` subscriptions are an admin's; anyone may subscribe themselves (``user``)."""

    scope: Literal["org", "project", "user"] = "user"
    channel: Literal["webhook", "slack", "email"]
    #: a URL (webhook, slack) or an email address; a ``user`` email subscription defaults to the user's address
    target: Line | None = Field(default=None, max_length=2048)
    #: the kinds to hear of (empty: all)
    kinds: list[NotificationKind] = Field(default_factory=list, max_length=7)
    #: the project of a ``project`` subscription
    project_id: Line | None = Field(default=None, max_length=32)
    #: the organisation's secret that signs a webhook's bodies (HMAC-SHA256; required for webhooks)
    secret_name: Line | None = Field(default=None, max_length=64)


class SubscriptionPublic(BaseModel):
    id: str
    scope: str
    project_id: str | None
    user_id: str | None
    channel: str
    #: an address whole; a URL masked to its host and the end of its path (a Slack URL is a credential)
    target: str
    kinds: list[str]
    secret_name: str | None
    created_by: str
    created_at: datetime


class NotificationPublic(BaseModel):
    id: str
    subscription_id: str
    kind: str
    channel: str
    target: str
    run_id: str | None
    task_id: str | None
    #: pending | sending | delivered | failed
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    #: the webhook body sent (without its ``id``): see docs/notifications.md
    payload: dict[str, Any]


# --- talking to an agent --------------------------------------------------------------------------------------


class SayCreate(_In):
    """A follow-up to a task's agent: a new turn in its session (see docs/crews.md, "Talking to an agent")."""

    message: str = Field(min_length=1, max_length=20_000)


class SaidPublic(BaseModel):
    message_id: int
    #: after_turn (running: after its current turn) | revision (succeeded: reopened) | retry (dead letter:
    #: re-queued) | with_prompt (not started yet)
    delivery: str
    #: the task's status now
    status: str


class TaskEdit(_In):
    """A waiting or dead-letter task's new prompt and/or runtime options, before it is (re)tried."""

    prompt: str | None = Field(default=None, min_length=1, max_length=200_000)
    options: dict[str, Any] | None = None
