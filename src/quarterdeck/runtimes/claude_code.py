"""The ``claude-code`` runtime: Claude Code run headlessly with ``claude -p --output-format stream-json``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from quarterdeck.llm import pricing
from quarterdeck.runtimes import cli_tools
from quarterdeck.runtimes.agent_events import ClaudeStreamParser
from quarterdeck.runtimes.agent_session import AgentArea, Spend, copy_login, report_usage, run_agent
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext

__all__ = ["ClaudeCodeOptions", "ClaudeCodeRuntime"]

#: provider statuses worth another attempt once the CLI's own retries are spent
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: quiet, offline-friendly defaults (a task's ``env`` may override them)
_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


class ClaudeCodeOptions(RuntimeOptions):
    """Claude Code's flags, per task; ``env`` carries the provider settings (``ANTHROPIC_BASE_URL``, …)."""

    #: the ``claude`` executable; default: ``QUARTERDECK_CLAUDE_PATH``, else ``claude`` on PATH
    path: str | None = None
    model: str | None = None
    permission_mode: Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"] = "bypassPermissions"
    allowed_tools: list[str] = Field(default_factory=list)
    #: asking the user a question would block a headless run forever
    disallowed_tools: list[str] = Field(default_factory=lambda: ["AskUserQuestion"])
    max_turns: int | None = Field(default=None, ge=1)
    append_system_prompt: str | None = None
    #: an MCP config file (relative to the plan) or the config itself
    mcp_config: str | dict[str, Any] | None = None
    #: a spending cap for the task; the run's remaining budget caps it further
    max_budget_usd: float | None = Field(default=None, gt=0)
    include_partial_messages: bool = False
    #: the model's price when the price table does not list it (Claude Code prices a finished run itself;
    #: Quarterdeck prices the turns of an interrupted one)
    price: pricing.Price | None = None
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


def _session_file_in(session_id: str) -> Callable[[Path], bool]:
    def contains(config_dir: Path) -> bool:
        return any((config_dir / "projects").glob(f"*/{session_id}.jsonl"))

    return contains


def _follow_into(config_dir: Path, session_id: str, workdir: Path) -> None:
    """Copy the transcript under the new worktree's project folder: Claude Code looks sessions up by cwd."""
    project = config_dir / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(workdir.resolve()))
    target = project / f"{session_id}.jsonl"
    if not target.exists():
        for source in (config_dir / "projects").glob(f"*/{session_id}.jsonl"):
            project.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            break


class ClaudeCodeRuntime:
    """Runs Claude Code in the worktree; success is ``is_error: false`` and exit code 0."""

    name: ClassVar[str] = "claude-code"
    Options: ClassVar[type[RuntimeOptions]] = ClaudeCodeOptions

    @classmethod
    def provider_key(cls, options: RuntimeOptions) -> str:
        return "ANTHROPIC_API_KEY"

    def argv(self, claude: Path, task: TaskContext, options: ClaudeCodeOptions) -> list[str]:
        argv = [str(claude), "-p", "--output-format", "stream-json", "--verbose"]
        argv += ["--permission-mode", options.permission_mode]
        if options.model:
            argv += ["--model", options.model]
        if options.max_turns is not None:
            argv += ["--max-turns", str(options.max_turns)]
        if options.allowed_tools:
            argv.append("--allowedTools=" + ",".join(options.allowed_tools))
        if options.disallowed_tools:
            argv.append("--disallowedTools=" + ",".join(options.disallowed_tools))
        if options.append_system_prompt:
            argv += ["--append-system-prompt", options.append_system_prompt]
        if isinstance(options.mcp_config, dict):
            argv += ["--mcp-config", json.dumps(options.mcp_config)]
        elif options.mcp_config:
            argv += ["--mcp-config", str((task.plan_dir / options.mcp_config).resolve())]
        caps = [c for c in (options.max_budget_usd, task.budget_usd) if c is not None]
        if caps:
            argv += ["--max-budget-usd", f"{max(min(caps), 0.0):.6f}"]
        if options.include_partial_messages:
            argv.append("--include-partial-messages")
        if task.resume_session_id:
            argv += ["--resume", task.resume_session_id]
        return argv + list(options.extra_args)

    def environment(self, task: TaskContext, options: ClaudeCodeOptions, config_dir: Path) -> dict[str, str]:
        env = {**_QUIET, **task.env, **options.env, "CLAUDE_CONFIG_DIR": str(config_dir)}
        env.pop("CLAUDECODE", None)  # else Claude Code refuses to start "inside another session"
        home = Path(task.env.get("HOME") or Path.home())
        logins = [Path(d) / ".credentials.json" for d in (task.env.get("CLAUDE_CONFIG_DIR"),) if d]
        copy_login([*logins, home / ".claude" / ".credentials.json"], config_dir / ".credentials.json")
        return env

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, ClaudeCodeOptions)
        options = task.options
        area = AgentArea.for_task(task)
        config_dir = area.config_dir("claude")
        env = self.environment(task, options, config_dir)
        try:
            claude, _ = await cli_tools.check_cli(cli_tools.CLAUDE, options.path, env)
        except cli_tools.AgentCliError as exc:
            return RunResult(ok=False, error=exc.message)
        resume = task.resume_session_id
        if resume and not area.adopt("claude", _session_file_in(resume)):
            return RunResult(ok=False, error=f"cannot resume Claude Code session {resume}: its transcript is gone")
        if resume:
            _follow_into(config_dir, resume, task.workdir)
        prompt = (task.follow_up or task.prompt) if resume else task.prompt
        parser = ClaudeStreamParser()
        try:
            outcome = await run_agent(
                self.argv(claude, task, options),
                cwd=task.workdir,
                env=env,
                timeout_s=task.timeout_s,
                parser=parser,
                events=events,
                log=area.next_log(),
                grace_s=task.kill_grace_s,
                stdin=prompt.encode(),
            )
        except asyncio.CancelledError:
            if task.meter is not None and parser.result is None:
                task.meter.record(_interrupted(parser, options, resume, "cancelled"))
            raise
        result = parser.result
        session = (result.session_id if result else None) or parser.session_id or resume
        if outcome.timed_out and result is None:
            run = _interrupted(parser, options, resume, f"timed out after {task.timeout_s:g}s")
            return await report_usage(events, run)
        if result is None:
            tail = "\n".join(parser.stderr[-10:]) or "no output"
            hint = ""
            if "root" in tail and os.geteuid() == 0:
                hint = "\n(bypassPermissions as root needs IS_SANDBOX=1 in the task's env)"
            message = f"claude exited {outcome.returncode} without a result:\n{tail}{hint}"
            return RunResult(ok=False, error=message, session_id=session)
        cost = 0.0
        if result.cost_usd is not None and session:
            # Claude Code reports the session's cumulative cost (usage is this invocation's own).
            earlier = area.spent(session).cost_usd if resume else 0.0
            cost = max(0.0, result.cost_usd - earlier)
            area.record_spent(session, Spend(result.cost_usd))
        ok = result.ok and outcome.returncode == 0
        error = None if ok else (result.error or f"claude exited {outcome.returncode}")
        run = RunResult(
            ok=ok,
            summary=result.text,
            error=error,
            retryable=not ok and result.error_status in RETRYABLE_STATUSES,
            cost_usd=cost,
            session_id=session,
            tokens=result.tokens,
            model=result.model,
            turns=result.turns,
            cost_source="agent" if result.cost_usd is not None else "",
        )
        return await report_usage(events, run)


def _interrupted(parser: ClaudeStreamParser, options: ClaudeCodeOptions, resume: str | None, why: str) -> RunResult:
    """A run stopped before its ``result``: the responses it streamed, priced from their usage (estimated)."""
    tokens = parser.served()
    model = parser.model or options.model
    cost = pricing.cost_of(model, tokens, options.price)
    return RunResult(
        ok=False,
        error=why,
        retryable=True,
        cost_usd=cost or 0.0,
        session_id=parser.session_id or resume,
        tokens=tokens,
        model=model,
        turns=parser.turns_served,
        cost_source="estimated" if cost is not None else "unpriced" if tokens.total else "",
    )
