"""The runtime protocol: what an agent runtime is given, what it reports, and what it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from quarterdeck.domain.sinks import EventSink
from quarterdeck.domain.usage import TokenUsage
from quarterdeck.workspaces.mcp_config import McpServer

__all__ = [
    "EventSink",
    "RunResult",
    "Runtime",
    "RuntimeOptions",
    "SpendMeter",
    "TaskContext",
    "TokenUsage",
    "expects_changes",
    "needs_workspace",
    "provider_key",
    "verification_follow_up",
]


class RuntimeOptions(BaseModel):
    """Base of every runtime's options model: unknown options are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SpendMeter:
    """Where a runtime leaves what a run that cannot return spent: a cancelled run raises, but the turns
    the provider served are paid for, and the engine records them from here."""

    def __init__(self) -> None:
        self.interrupted: RunResult | None = None

    def record(self, result: RunResult) -> None:
        self.interrupted = result


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Everything a runtime may know about the task it runs."""

    run_id: str
    task_id: str
    attempt: int
    title: str
    prompt: str
    options: RuntimeOptions
    timeout_s: float
    #: the directory of the plan file; relative paths in options are resolved from here
    plan_dir: Path
    #: the worktree the runtime must confine itself to
    workdir: Path
    #: environment for processes the runtime starts
    env: Mapping[str, str] = field(default_factory=dict)
    verify: tuple[str, ...] = ()
    acceptance_criteria: tuple[str, ...] = ()
    #: continue this agent session (``RunResult.session_id`` of an earlier run) instead of starting anew
    resume_session_id: str | None = None
    #: the text of the next turn when resuming (e.g. ``verification_follow_up(...)``); default: ``prompt``
    follow_up: str | None = None
    #: the most this step may spend, in USD: the task's budget or what the run has left, whichever is less;
    #: None: no cap (neither is set). Quarterdeck's reservation for the step is accounting, never a cap.
    budget_usd: float | None = None
    #: how long a stopped process (cancel, timeout) gets between SIGTERM and SIGKILL (``QUARTERDECK_KILL_GRACE_S``)
    kill_grace_s: float = 5.0
    #: what the runtime last passed to ``save_state`` for this task, in this attempt or an interrupted one
    resume_state: Mapping[str, Any] | None = None
    #: durably checkpoint the runtime's own progress (e.g. after each completed turn); the engine keeps it with
    #: the task, so the next attempt, on any worker, starts with it as ``resume_state``. None: not kept
    save_state: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    #: where a cancelled run leaves what it spent (see ``SpendMeter``); None: not recorded
    meter: SpendMeter | None = None
    #: the project's external MCP servers (``[mcp.servers.<name>]``), for runtimes that offer their tools
    mcp_servers: Mapping[str, McpServer] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    """How the agent's part of an attempt ended."""

    ok: bool
    summary: str = ""
    error: str | None = None
    #: a failure worth trying again (timeouts, overloaded providers), not a wrong answer
    retryable: bool = False
    #: what this run spent (a delta: a resumed session's earlier spend is not counted again)
    cost_usd: float = 0.0
    session_id: str | None = None
    #: tokens this run used
    tokens: TokenUsage = field(default_factory=TokenUsage)
    #: the model that did the work, as the agent reported it
    model: str | None = None
    #: model round trips in this run
    turns: int = 0
    #: where ``cost_usd`` comes from: ``agent`` (reported by the CLI), ``price-table`` (tokens × our prices),
    #: ``estimated`` (an interrupted run: the turns served, from the stream's per-turn usage, × our prices),
    #: ``unpriced`` (a model missing from the price table: cost unknown, 0 recorded), or empty (no agent cost)
    cost_source: str = ""


@runtime_checkable
class Runtime(Protocol):
    """An agent runtime: a name, an options model, and ``run``."""

    name: ClassVar[str]
    Options: ClassVar[type[RuntimeOptions]]

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        """Do the task in ``task.workdir``, reporting events; return how it ended."""
        ...


def needs_workspace(runtime: type[Runtime]) -> bool:
    """Whether the engine prepares a worktree (and commits and merges) for this runtime.

    A runtime opts out with ``workspace: ClassVar[bool] = False``; its ``workdir`` is then the
    repository root, which it must not write to.
    """
    return bool(getattr(runtime, "workspace", True))


def expects_changes(runtime: type[Runtime]) -> bool:
    """Whether a run of this runtime that changed no file means the task was not done.

    Agents are expected to change something; a runtime whose steps are checks (a shell step running the
    tests, say) opts out with ``expects_changes: ClassVar[bool] = False``. A task opts out with ``allow_empty``.
    """
    return bool(getattr(runtime, "expects_changes", True))


def verification_follow_up(command: str, exit_code: int, output: str, *, limit: int = 8000) -> str:
    """The follow-up turn that hands a failed verification back to the agent that did the work."""
    tail = output[-limit:]
    return (
        f"The verification command `{command}` failed with exit code {exit_code}.\n"
        f"Its output (last {len(tail)} characters):\n\n```\n{tail}\n```\n\n"
        "Fix the code so that this command passes, then stop. Do not change the verification command."
    )


def provider_key(runtime: type[Runtime], options: RuntimeOptions) -> str | None:
    """The provider key a task of this runtime spends through, named by the environment variable holding it.

    ``key:<NAME>`` concurrency limits count running tasks by it. A runtime that calls a provider says
    which key with a ``provider_key(options)`` class method; the others (shell, scripted) use none.
    """
    keyed = getattr(runtime, "provider_key", None)
    return keyed(options) if callable(keyed) else None


def spends(runtime: type[Runtime]) -> bool:
    """Whether running this runtime may cost money, so the run's budget is reserved first.

    Unknown runtimes are assumed to spend; a runtime opts out with ``spends: ClassVar[bool] = False``.
    """
    return bool(getattr(runtime, "spends", True))
