"""The ``noop`` runtime: does nothing and succeeds — for milestones, grouping tasks and measuring overhead."""

from __future__ import annotations

from typing import ClassVar

from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext

__all__ = ["NoopOptions", "NoopRuntime"]


class NoopOptions(RuntimeOptions):
    """No options."""


class NoopRuntime:
    """Succeeds at once without a worktree, a commit or a merge."""

    name: ClassVar[str] = "noop"
    Options: ClassVar[type[RuntimeOptions]] = NoopOptions
    #: runs local commands only: no budget is reserved
    spends: ClassVar[bool] = False
    expects_changes: ClassVar[bool] = False
    #: no worktree is prepared, nothing is committed or merged
    workspace: ClassVar[bool] = False

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        return RunResult(ok=True, summary="nothing to do")
