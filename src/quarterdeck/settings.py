"""Settings, read once from ``QUARTERDECK_*`` environment variables and passed down explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything Quarterdeck can be configured with; each field is ``QUARTERDECK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_", extra="ignore", frozen=True)

    #: where the SQLite database, worktrees and logs live by default
    state_dir: Path = Path(".quarterdeck")
    #: ``sqlite:///path`` or ``postgresql://user@host/db``; default: ``<state_dir>/quarterdeck.db``
    database_url: str | None = None
    #: where task worktrees are created; default: ``<state_dir>/worktrees``
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
    #: what is reserved from a run's budget before an agent step whose task sets no ``budget_usd``
    default_reserve_usd: float = Field(default=1.0, gt=0)
    #: author and committer of agent commits
    git_author_name: str = "Quarterdeck Agent"
    git_author_email: str = "agent@quarterdeck.invalid"
    #: ``redis://host:port/db``: share the live event feed (and rate limits) across machines; unset: in-process
    redis_url: str | None = None
    #: how often a live feed looks in the event table for events written by other processes
    event_poll_s: float = Field(default=0.25, gt=0)
    #: the organisation that runs started from the CLI belong to
    org: str = "default"

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

    def resolved_worktree_root(self) -> Path:
        return (self.worktree_root or self.state_dir / "worktrees").resolve()
