"""The ``shell`` runtime: run the task's command in its worktree, streaming its output."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from quarterdeck.runtimes import process
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext

__all__ = ["ShellOptions", "ShellRuntime"]


class ShellOptions(RuntimeOptions):
    """Exactly one of ``argv`` (run as is) or ``script`` (run by ``bash -c``, explicitly a shell)."""

    argv: list[str] | None = Field(default=None, min_length=1)
    script: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_command(self) -> ShellOptions:
        if (self.argv is None) == (self.script is None):
            raise ValueError("give exactly one of 'argv' (a list) or 'script' (run with bash -c)")
        return self

    def command(self) -> list[str]:
        return list(self.argv) if self.argv is not None else ["bash", "-c", self.script or ""]


class ShellRuntime:
    """Runs one command; success is exit code 0 within the task's timeout."""

    name: ClassVar[str] = "shell"
    Options: ClassVar[type[RuntimeOptions]] = ShellOptions
    #: runs local commands only: no budget is reserved
    spends: ClassVar[bool] = False
    expects_changes: ClassVar[bool] = False

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, ShellOptions)
        argv = task.options.command()
        await events("agent.tool", tool="run_command", input=argv)

        async def line(text: str) -> None:
            await events("agent.output", stream="stdout", text=text)

        result = await process.run_process(
            argv,
            cwd=task.workdir,
            env={**task.env, **task.options.env},
            timeout_s=task.timeout_s,
            on_line=line,
            grace_s=task.kill_grace_s,
            reap=True,
        )
        if result.timed_out:
            return RunResult(ok=False, error=f"timed out after {task.timeout_s:g}s", retryable=True)
        if result.returncode != 0:
            tail = "\n".join(result.output.splitlines()[-20:])
            return RunResult(ok=False, error=f"exit code {result.returncode}\n{tail}".strip())
        return RunResult(ok=True, summary=f"{argv[0]} exited 0")
