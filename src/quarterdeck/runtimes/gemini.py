"""The ``gemini`` runtime: Google's Gemini CLI run headlessly with ``gemini -p … --output-format stream-json``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from quarterdeck.runtimes import cli_tools, pricing
from quarterdeck.runtimes.agent_events import GeminiStreamParser
from quarterdeck.runtimes.agent_session import AgentArea, copy_login, report_usage, run_agent
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext

__all__ = ["EXIT_CODES", "GeminiOptions", "GeminiRuntime"]

#: the CLI's documented exit codes beyond 0 and 1
EXIT_CODES = {42: "input error", 53: "turn limit reached"}
_TRANSIENT = ("429", "500", "503", "resource_exhausted", "unavailable", "overloaded", "quota")


class GeminiOptions(RuntimeOptions):
    """Gemini CLI's settings, per task; ``env`` carries ``GEMINI_API_KEY`` or ``GOOGLE_GEMINI_BASE_URL``."""

    #: the ``gemini`` executable; default: ``QUARTERDECK_GEMINI_PATH``, else ``gemini`` on PATH
    path: str | None = None
    model: str | None = None
    approval_mode: Literal["default", "auto_edit", "yolo", "plan"] = "yolo"
    #: headless runs cannot answer the "trust this folder?" question
    skip_trust: bool = True
    #: the model's price when the price table does not list it
    price: pricing.Price | None = None
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


def _has_session(session_id: str) -> Callable[[Path], bool]:
    def contains(home: Path) -> bool:
        return any(session_id in p.name for p in (home / ".gemini" / "tmp").glob("*/chats/*"))

    return contains


class GeminiRuntime:
    """Runs the Gemini CLI in the worktree; success is a ``result`` with status success and exit 0."""

    name: ClassVar[str] = "gemini"
    Options: ClassVar[type[RuntimeOptions]] = GeminiOptions

    @classmethod
    def provider_key(cls, options: RuntimeOptions) -> str:
        return "GEMINI_API_KEY"

    def argv(self, gemini: Path, task: TaskContext, options: GeminiOptions, prompt: str) -> list[str]:
        argv = [str(gemini), "--output-format", "stream-json", "--approval-mode", options.approval_mode]
        if options.model:
            argv += ["--model", options.model]
        if options.skip_trust:
            argv.append("--skip-trust")
        if task.resume_session_id:
            argv += ["--resume", task.resume_session_id]
        return [*argv, *options.extra_args, f"--prompt={prompt}"]

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, GeminiOptions)
        options = task.options
        area = AgentArea.for_task(task)
        home = area.config_dir("gemini")
        (home / ".gemini").mkdir(exist_ok=True)
        user = Path(task.env.get("HOME") or Path.home()) / ".gemini"
        copy_login([user / "oauth_creds.json"], home / ".gemini" / "oauth_creds.json")
        env = {**task.env, **options.env, "GEMINI_CLI_HOME": str(home)}
        try:
            gemini, _ = await cli_tools.check_cli(cli_tools.GEMINI, options.path, env)
        except cli_tools.AgentCliError as exc:
            return RunResult(ok=False, error=exc.message)
        resume = task.resume_session_id
        if resume and not area.adopt("gemini", _has_session(resume)):
            return RunResult(ok=False, error=f"cannot resume Gemini session {resume}: it is gone")
        prompt = (task.follow_up or task.prompt) if resume else task.prompt
        parser = GeminiStreamParser()
        outcome = await run_agent(
            self.argv(gemini, task, options, prompt),
            cwd=task.workdir,
            env=env,
            timeout_s=task.timeout_s,
            parser=parser,
            events=events,
            log=area.next_log(),
        )
        session = parser.session_id or resume
        if outcome.timed_out:
            return RunResult(ok=False, error=f"timed out after {task.timeout_s:g}s", retryable=True, session_id=session)
        result = parser.result
        if result is None:
            reason = EXIT_CODES.get(outcome.returncode) or "\n".join(parser.stderr[-10:]) or "no output"
            return RunResult(ok=False, error=f"gemini exited {outcome.returncode} without a result: {reason}")
        model = options.model or result.model
        cost = pricing.cost_of(model, result.tokens, options.price)
        ok = result.ok and outcome.returncode == 0
        error = None if ok else (result.error or EXIT_CODES.get(outcome.returncode) or f"exit {outcome.returncode}")
        run = RunResult(
            ok=ok,
            summary=result.text,
            error=error,
            retryable=not ok and any(w in (error or "").lower() for w in _TRANSIENT),
            cost_usd=cost or 0.0,
            session_id=session,
            tokens=result.tokens,
            model=model,
            turns=result.turns,
            cost_source="price-table" if cost is not None else "unpriced",
        )
        return await report_usage(events, run)
