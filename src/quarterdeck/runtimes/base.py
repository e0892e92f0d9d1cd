"""The runtime protocol: what an agent runtime is given, what it reports, and what it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

__all__ = ["EventSink", "RunResult", "Runtime", "RuntimeOptions", "TaskContext"]


class RuntimeOptions(BaseModel):
    """Base of every runtime's options model: unknown options are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class EventSink(Protocol):
    """Where a runtime reports what it does, as it does it."""

    async def __call__(self, type: str, /, **payload: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class RunResult:
    """How the agent's part of an attempt ended."""

    ok: bool
    summary: str = ""
    error: str | None = None
    #: a failure worth trying again (timeouts, overloaded providers), not a wrong answer
    retryable: bool = False
    cost_usd: float = 0.0
    session_id: str | None = None


@runtime_checkable
class Runtime(Protocol):
    """An agent runtime: a name, an options model, and ``run``."""

    name: ClassVar[str]
    Options: ClassVar[type[RuntimeOptions]]

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        """Do the task in ``task.workdir``, reporting events; return how it ended."""
        ...
