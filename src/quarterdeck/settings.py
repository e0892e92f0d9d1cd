"""Settings, read once from ``QUARTERDECK_*`` environment variables and passed down explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from quarterdeck.locations import default_state_dir, mask_url

__all__ = ["Settings", "default_state_dir", "mask_url"]


class Settings(BaseSettings):
    """Everything Quarterdeck can be configured with; each field is ``QUARTERDECK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_", extra="ignore", frozen=True)

    #: where the SQLite database, the key file and logs live (``quarterdeck --state-dir``; never a worktree);
    #: default: the user's home, ``$XDG_DATA_HOME/quarterdeck`` or ``~/.local/share/quarterdeck``
    state_dir: Path = Field(default_factory=default_state_dir)
    #: ``sqlite:///path`` or ``postgresql://user@host/db``; default: ``<state_dir>/quarterdeck.db``
    database_url: str | None = None
    #: where task worktrees are created: outside the state directory, so that no step works beside the
    #: database or the key file; default: ``<state_dir>-worktrees``, a sibling of the state directory
    worktree_root: Path | None = None
    #: finished tasks' worktrees kept per repository, made pristine, for the next tasks to reuse (0: removed)
    worktree_pool: int = Field(default=4, ge=0)
    #: how long a claimed task stays ours without a heartbeat
    lease_s: float = Field(default=30.0, gt=0)
    #: how often a running attempt renews its lease
    heartbeat_s: float = Field(default=5.0, gt=0)
    #: the longest a worker waits between looks for new work
    poll_max_s: float = Field(default=0.5, gt=0)
    #: grace period between SIGTERM and SIGKILL for an agent's process group
    kill_grace_s: float = Field(default=5.0, ge=0)
    #: how many tasks may run at once, by key: ``global``, ``runtime:<name>``, ``repo:<absolute path>``
    #: (JSON in the environment, e.g. ``{"global": 8, "runtime:claude-code": 2}``)
    limits: dict[str, int] = Field(default_factory=dict)
    #: what is reserved from a run's budget before an agent step whose task sets no ``budget_usd``: an accounting
    #: device, never a cap on the step (the cap is the task's budget and what the run has left, if either is set)
    default_reserve_usd: float = Field(default=1.0, gt=0)
    #: author and committer of agent commits
    git_author_name: str = "Quarterdeck Agent"
    git_author_email: str = "agent@quarterdeck.invalid"
    #: ``redis://host:port/db``: share the live event feed (and rate limits) across machines; unset: in-process
    redis_url: str | None = None
    #: how often a live feed looks in the event table for events written by other processes
    event_poll_s: float = Field(default=0.25, gt=0)
    #: what this worker offers tasks that require it (``requires:``), e.g. ``["gpu", "region=eu"]``
    #: (JSON in the environment); its runtimes are offered as ``runtime:<name>`` besides
    worker_labels: list[str] = Field(default_factory=list)
    #: how long agents' stored areas (raw streams, session files; see docs/fleet.md) are kept: ``quarterdeck gc``
    #: forgets older ones
    agent_files_days: float = Field(default=30.0, gt=0)
    #: the organisation that runs started from the CLI belong to
    org: str = "default"
    #: an OTLP/HTTP endpoint (``http://collector:4318``) to send traces to; ``OTEL_EXPORTER_OTLP_ENDPOINT``
    #: (the OpenTelemetry SDK's own variable) turns tracing on too. Unset, tracing is off and costs nothing
    otel_endpoint: str | None = None
    #: how log records are written: ``text`` (the default) or ``json`` (one object a line, with the ids of
    #: the run, task, attempt, worker, request and trace that each record belongs to)
    log_format: Literal["text", "json"] = "text"
    #: agent memory (docs/memory.md) in projects whose config does not say (``[memory] enabled``); needs
    #: ``pip install 'quarterdeck[memory]'``
    memory: bool = False
    #: where the dashboard is reached (``https://quarterdeck.example.com``): notifications link to runs there
    public_url: str | None = None
    #: the SMTP server emails go through: ``smtp://[user:password@]host[:port][?starttls=true]`` or ``smtps://…``
    smtp_url: str | None = None
    #: the sender of notification emails
    smtp_from: str = "quarterdeck@localhost"
    #: how often the notifier looks for new events and due notifications
    notify_poll_s: float = Field(default=1.0, gt=0)
    #: the first retry of a failed delivery waits this long, each next one twice as long (at most 10 minutes)
    notify_retry_s: float = Field(default=2.0, gt=0)
    #: deliveries tried before a notification is given up (``failed``)
    notify_max_attempts: int = Field(default=8, ge=1)

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, limits: dict[str, int]) -> dict[str, int]:
        for key, value in limits.items():
            if key != "global" and not key.startswith(("runtime:", "role:", "repo:", "key:")):
                raise ValueError(
                    f"unknown limit {key!r}: use global, runtime:<name>, role:<name>, repo:<path> or key:<ENV_NAME>"
                )
            if value < 1:
                raise ValueError(f"limit {key!r} must be at least 1")
        return limits

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the state directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'quarterdeck.db').resolve()}"

    @model_validator(mode="after")
    def _worktrees_outside_the_state(self) -> Settings:
        if self.worktree_root is not None:
            state, root = self.state_dir.resolve(), self.worktree_root.resolve()
            if root.is_relative_to(state) or state.is_relative_to(root):
                raise ValueError(
                    f"QUARTERDECK_WORKTREE_ROOT ({root}) must lie outside the state directory ({state}) and not "
                    "hold it: a step works in its worktree and must not reach the database or the key file"
                )
        return self

    def resolved_repo_cache(self) -> Path:
        """Where this machine caches repositories named by URL (one bare repository each, see ``workspaces.remote``)."""
        return self.state_dir.resolve() / "repos"

    def resolved_worktree_root(self) -> Path:
        if self.worktree_root is not None:
            return self.worktree_root.resolve()
        state = self.state_dir.resolve()
        return state.with_name(f"{state.name}-worktrees")
