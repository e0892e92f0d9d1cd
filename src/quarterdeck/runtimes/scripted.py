"""The ``scripted`` runtime: a deterministic agent that applies a script of actions.

It never pretends to be an LLM: it writes and edits files and runs commands exactly as told,
confined to the worktree, so demos and tests are reproducible. Actions, one verb each::

    - write: path/in/worktree.py        # create or overwrite
      content: "..."
    - edit: path/in/worktree.py         # exact-match replace (the text must occur)
      old: "..."
      new: "..."
    - run: [python, -m, unittest]       # argv, no shell
    - shell: "echo hi > out.txt"        # explicitly through bash -c
    - say: "text"                       # an agent message
    - fail: "reason"                    # fail the attempt (optionally only on some attempts)
      on_attempts: [1]
      retryable: true
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from quarterdeck.errors import RuntimeFailure, WorkspaceError
from quarterdeck.runtimes import process
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext
from quarterdeck.workspaces.paths import confine

__all__ = ["Action", "ScriptedOptions", "ScriptedRuntime"]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WriteFile(_Action):
    write: str
    content: str


class EditFile(_Action):
    edit: str
    old: str = Field(min_length=1)
    new: str


class RunCommand(_Action):
    run: list[str] | str
    timeout_s: float = Field(default=600, gt=0)

    def argv(self) -> list[str]:
        return shlex.split(self.run) if isinstance(self.run, str) else list(self.run)


class ShellCommand(_Action):
    shell: str
    timeout_s: float = Field(default=600, gt=0)


class Say(_Action):
    say: str


class Fail(_Action):
    fail: str
    on_attempts: list[int] | None = None
    retryable: bool = False


Action = WriteFile | EditFile | RunCommand | ShellCommand | Say | Fail
_VERBS: dict[str, type[_Action]] = {
    "write": WriteFile,
    "edit": EditFile,
    "run": RunCommand,
    "shell": ShellCommand,
    "say": Say,
    "fail": Fail,
}


def _parse_actions(raw: Any) -> list[Action]:
    if not isinstance(raw, list):
        raise ValueError("'actions' must be a list")
    actions: list[Action] = []
    for n, item in enumerate(raw, 1):
        verbs = [k for k in item if k in _VERBS] if isinstance(item, dict) else []
        if len(verbs) != 1:
            raise ValueError(f"action {n} must have exactly one of: {', '.join(_VERBS)}")
        try:
            actions.append(_VERBS[verbs[0]].model_validate(item))  # type: ignore[arg-type]
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or verbs[0]}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"action {n} ({verbs[0]}): {detail}") from None
    return actions


class ScriptedOptions(RuntimeOptions):
    """Either inline ``actions`` or a ``script`` file (YAML list of actions, relative to the plan)."""

    actions: Annotated[list[Any] | None, Field(default=None)] = None
    script: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ScriptedOptions:
        if (self.actions is None) == (self.script is None):
            raise ValueError("give exactly one of 'actions' (a list) or 'script' (a YAML file)")
        if self.actions is not None:
            _parse_actions(self.actions)
        return self

    def load(self, plan_dir: Path) -> list[Action]:
        if self.actions is not None:
            return _parse_actions(self.actions)
        path = plan_dir / (self.script or "")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RuntimeFailure(f"cannot read script {path}: {exc}") from None
        try:
            return _parse_actions(raw)
        except ValueError as exc:
            raise RuntimeFailure(f"{path}: {exc}") from None


def _write_confined(root: Path, relative: str, content: str) -> Path:
    target = confine(root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink planted at the last component is refused, not followed.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return target


class ScriptedRuntime:
    """Applies its actions in order; the first failing action fails the attempt."""

    name: ClassVar[str] = "scripted"
    Options: ClassVar[type[RuntimeOptions]] = ScriptedOptions
    #: runs local commands only: no budget is reserved
    spends: ClassVar[bool] = False

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, ScriptedOptions)
        actions = task.options.load(task.plan_dir)
        root = task.workdir
        for n, action in enumerate(actions, 1):
            try:
                failure = await self._apply(action, task, root, events)
            except (WorkspaceError, OSError) as exc:
                return RunResult(ok=False, error=f"action {n}: {exc}")
            if failure is not None:
                return RunResult(ok=False, error=f"action {n}: {failure.error}", retryable=failure.retryable)
        return RunResult(ok=True, summary=f"applied {len(actions)} actions")

    async def _apply(self, action: Action, task: TaskContext, root: Path, events: EventSink) -> RunResult | None:
        match action:
            case WriteFile(write=path, content=content):
                await events("agent.tool", tool="write_file", input={"path": path})
                _write_confined(root, path, content)
            case EditFile(edit=path, old=old, new=new):
                await events("agent.tool", tool="edit_file", input={"path": path})
                text = confine(root, path).read_text(encoding="utf-8")
                if old not in text:
                    return RunResult(ok=False, error=f"edit {path}: text to replace not found")
                _write_confined(root, path, text.replace(old, new, 1))
            case RunCommand() | ShellCommand():
                argv = action.argv() if isinstance(action, RunCommand) else ["bash", "-c", action.shell]
                await events("agent.tool", tool="run_command", input=argv)

                async def line(text: str) -> None:
                    await events("agent.output", stream="stdout", text=text)

                result = await process.run_process(
                    argv, cwd=root, env=task.env, timeout_s=min(action.timeout_s, task.timeout_s), on_line=line
                )
                if result.timed_out:
                    return RunResult(ok=False, error=f"{argv[0]} timed out", retryable=True)
                if result.returncode != 0:
                    return RunResult(ok=False, error=f"{shlex.join(argv)} exited {result.returncode}")
            case Say(say=text):
                await events("agent.message", text=text)
            case Fail(fail=reason, on_attempts=attempts, retryable=retryable):
                if attempts is None or task.attempt in attempts:
                    return RunResult(ok=False, error=reason, retryable=retryable)
        return None
