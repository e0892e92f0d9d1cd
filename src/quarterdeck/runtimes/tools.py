"""The api-agent's tools, confined to the task's worktree: read, write, edit, list, search, run a command."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quarterdeck.errors import QuarterdeckError
from quarterdeck.llm.messages import ToolSpec
from quarterdeck.runtimes import process
from quarterdeck.workspaces.paths import confine

__all__ = ["READ_ONLY_TOOLS", "ToolOutcome", "Toolbox", "describe"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadFile(_Args):
    """Read a text file of the worktree."""

    path: str = Field(description="path relative to the worktree root")


class WriteFile(_Args):
    """Create or overwrite a text file of the worktree (parent directories are created)."""

    path: str = Field(description="path relative to the worktree root")
    content: str


class EditFile(_Args):
    """Replace exactly one occurrence of ``old`` with ``new`` in a file of the worktree."""

    path: str = Field(description="path relative to the worktree root")
    old: str = Field(description="the exact text to replace; it must occur exactly once")
    new: str


class ListFiles(_Args):
    """List the files under a directory of the worktree (recursively; .git is hidden)."""

    path: str = Field(default=".", description="directory relative to the worktree root")


class Search(_Args):
    """Search the worktree's text files for a regular expression; answers path:line: text."""

    pattern: str
    path: str = Field(default=".", description="directory relative to the worktree root")


class RunCommand(_Args):
    """Run a command in the worktree: ``argv`` (no shell) or ``shell`` (run by bash -c), with a timeout."""

    argv: list[str] | None = None
    shell: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)


_TOOLS: dict[str, type[_Args]] = {
    "read_file": ReadFile,
    "write_file": WriteFile,
    "edit_file": EditFile,
    "list_files": ListFiles,
    "search": Search,
    "run_command": RunCommand,
}

#: tools that never change a file (a turn using only these needs no new worktree snapshot)
READ_ONLY_TOOLS = frozenset({"read_file", "list_files", "search"})


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool answered; ``is_error`` tells the model its call failed (the loop goes on)."""

    output: str
    is_error: bool = False


class _Refused(Exception):
    pass


class Toolbox:
    """The tools of one task, bound to its worktree, environment and limits."""

    def __init__(
        self, root: Path, *, env: Mapping[str, str], command_timeout_s: float = 120.0, output_limit: int = 16_000
    ) -> None:
        self.root = root.resolve()
        self.env = dict(env)
        self.command_timeout_s = command_timeout_s
        self.output_limit = output_limit

    @staticmethod
    def specs() -> tuple[ToolSpec, ...]:
        """The tools as the model sees them."""
        out = []
        for name, model in _TOOLS.items():
            schema = model.model_json_schema()
            schema.pop("title", None)
            schema.pop("description", None)
            out.append(ToolSpec(name=name, description=(model.__doc__ or name).strip(), parameters=schema))
        return tuple(out)

    async def call(self, name: str, arguments: Mapping[str, Any] | str) -> ToolOutcome:
        """Run one tool call; bad calls, refused paths and failures come back as tool errors, never raise."""
        model = _TOOLS.get(name)
        if model is None:
            return ToolOutcome(f"unknown tool {name!r}; the tools are: {', '.join(_TOOLS)}", is_error=True)
        if isinstance(arguments, str):
            return ToolOutcome(f"the arguments of {name} are not a JSON object: {arguments[:200]!r}", is_error=True)
        try:
            args = model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return ToolOutcome(f"invalid arguments for {name}: {problems}", is_error=True)
        try:
            outcome: ToolOutcome = await getattr(self, f"_{name}")(args)
            return outcome
        except (QuarterdeckError, _Refused) as exc:
            return ToolOutcome(str(exc), is_error=True)
        except OSError as exc:
            return ToolOutcome(f"{name} failed: {exc.strerror or exc}", is_error=True)

    # the tools -----------------------------------------------------------------------------------------
    def _path(self, relative: str) -> Path:
        return confine(self.root, relative)

    def _clip(self, text: str) -> str:
        if len(text) <= self.output_limit:
            return text
        dropped = len(text) - self.output_limit
        return text[-self.output_limit :] + f"\n[output truncated: the first {dropped} characters were dropped]"

    async def _read_file(self, args: ReadFile) -> ToolOutcome:
        path = self._path(args.path)
        if not path.is_file():
            raise _Refused(f"{args.path} is not a file")
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > self.output_limit:
            rest = len(text) - self.output_limit
            text = text[: self.output_limit] + f"\n[file truncated: {rest} more characters not shown]"
        return ToolOutcome(text)

    async def _write_file(self, args: WriteFile) -> ToolOutcome:
        path = self._path(args.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path = self._path(args.path)  # again: a parent may be a symlink that leads out
        path.write_text(args.content, encoding="utf-8")
        return ToolOutcome(f"wrote {len(args.content)} characters to {args.path}")

    async def _edit_file(self, args: EditFile) -> ToolOutcome:
        path = self._path(args.path)
        if not path.is_file():
            raise _Refused(f"{args.path} is not a file")
        text = path.read_text(encoding="utf-8")
        count = text.count(args.old) if args.old else 0
        if count != 1:
            raise _Refused(f"`old` occurs {count} times in {args.path}; it must occur exactly once")
        path.write_text(text.replace(args.old, args.new, 1), encoding="utf-8")
        return ToolOutcome(f"edited {args.path}")

    def _walk(self, relative: str) -> list[Path]:
        base = self._path(relative)
        if base.is_file():
            return [base]
        if not base.is_dir():
            raise _Refused(f"{relative} is not a directory")
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            found += [Path(dirpath) / f for f in sorted(filenames)]
        return found

    async def _list_files(self, args: ListFiles) -> ToolOutcome:
        names = [str(p.relative_to(self.root)) for p in self._walk(args.path)]
        return ToolOutcome(self._clip("\n".join(names)) if names else "(no files)")

    async def _search(self, args: Search) -> ToolOutcome:
        try:
            pattern = re.compile(args.pattern)
        except re.error as exc:
            raise _Refused(f"invalid pattern {args.pattern!r}: {exc}") from None
        hits: list[str] = []
        for path in self._walk(args.path):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            rel = path.relative_to(self.root)
            hits += [f"{rel}:{n}: {line}" for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
        return ToolOutcome(self._clip("\n".join(hits)) if hits else "no matches")

    async def _run_command(self, args: RunCommand) -> ToolOutcome:
        if (args.argv is None) == (args.shell is None):
            raise _Refused("give exactly one of `argv` (a list of strings) or `shell` (a command line for bash -c)")
        argv = ["bash", "-c", args.shell] if args.shell is not None else list(args.argv or [])
        timeout = min(args.timeout_s or self.command_timeout_s, self.command_timeout_s)
        result = await process.run_process(argv, cwd=self.root, env=self.env, timeout_s=timeout, grace_s=2.0)
        status = f"timed out after {timeout:g}s" if result.timed_out else f"exit code {result.returncode}"
        body = self._clip(result.output)
        return ToolOutcome(f"{status}\n{body}", is_error=result.timed_out or result.returncode != 0)


def describe(arguments: Mapping[str, Any] | str) -> str:
    """Tool arguments for an event, clipped."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return text[:2000]
