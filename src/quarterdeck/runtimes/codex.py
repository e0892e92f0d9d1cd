"""The ``codex`` runtime: OpenAI's Codex CLI run headlessly with ``codex exec --json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal, cast

from pydantic import Field

from quarterdeck.runtimes import cli_tools, pricing
from quarterdeck.runtimes.agent_events import CodexExecParser
from quarterdeck.runtimes.agent_session import AgentArea, Spend, copy_login, report_usage, run_agent
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext

__all__ = ["CodexOptions", "CodexRuntime", "config_toml"]

#: words in a failed turn's message that mean the provider, not the work, failed
_TRANSIENT = ("429", "500", "502", "503", "504", "529", "rate limit", "overloaded", "stream disconnected", "timeout")


class CodexOptions(RuntimeOptions):
    """Codex's settings, per task; ``base_url`` adds a provider for an OpenAI-compatible endpoint."""

    #: the ``codex`` executable; default: ``QUARTERDECK_CODEX_PATH``, else ``codex`` on PATH
    path: str | None = None
    model: str | None = None
    #: an OpenAI Responses API endpoint (``…/v1``); default: Codex's own provider (or ``OPENAI_BASE_URL``)
    base_url: str | None = None
    #: the environment variable holding the API key for ``base_url`` (sent as a Bearer token)
    env_key: str = "OPENAI_API_KEY"
    sandbox: Literal["read-only", "workspace-write", "danger-full-access"] = "workspace-write"
    reasoning_effort: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None
    #: Codex retries forever when its provider is unreachable: stop after this many reconnects
    max_reconnects: int = Field(default=3, ge=1)
    #: the model's price when the price table does not list it
    price: pricing.Price | None = None
    #: further ``-c key=value`` overrides of Codex's config
    config: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


def _toml(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else json.dumps(value)


def config_toml(options: CodexOptions) -> str:
    """The attempt's ``$CODEX_HOME/config.toml``: headless, quiet, and the task's provider if it names one."""
    top: dict[str, str | int | bool] = {
        "approval_policy": "never",
        "sandbox_mode": options.sandbox,
        "check_for_update_on_startup": False,
    }
    if options.model:
        top["model"] = options.model
    if options.reasoning_effort:
        top["model_reasoning_effort"] = options.reasoning_effort
    if options.base_url:
        top["model_provider"] = "quarterdeck"
    tables: dict[str, dict[str, str | int | bool]] = {
        "analytics": {"enabled": False},
        "features": {"plugins": False, "apps": False, "remote_plugin": False},
    }
    if options.base_url:
        tables["model_providers.quarterdeck"] = {
            "name": "Quarterdeck provider",
            "base_url": options.base_url,
            "wire_api": "responses",
            "env_key": options.env_key,
            "supports_websockets": False,
            "request_max_retries": 4,
            "stream_max_retries": 4,
        }
    lines = [f"{key} = {_toml(value)}" for key, value in top.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]", *(f"{key} = {_toml(value)}" for key, value in table.items())]
    return "\n".join(lines) + "\n"


def _has_thread(thread_id: str) -> Callable[[Path], bool]:
    def contains(home: Path) -> bool:
        return any((home / "sessions").glob(f"*/*/*/rollout-*{thread_id}.jsonl"))

    return contains


class CodexRuntime:
    """Runs ``codex exec --json`` in the worktree; success is exit 0 with a completed turn."""

    name: ClassVar[str] = "codex"
    Options: ClassVar[type[RuntimeOptions]] = CodexOptions

    @classmethod
    def provider_key(cls, options: RuntimeOptions) -> str:
        return cast(CodexOptions, options).env_key

    def argv(self, codex: Path, task: TaskContext, options: CodexOptions) -> list[str]:
        argv = [str(codex), "exec", "--json", "--skip-git-repo-check", "--cd", str(task.workdir)]
        for override in options.config:
            argv += ["-c", override]
        if task.resume_session_id:
            argv += ["resume", task.resume_session_id]
        return [*argv, "-"]  # the prompt comes on stdin

    def environment(self, task: TaskContext, options: CodexOptions, home: Path) -> dict[str, str]:
        env = {**task.env, **options.env, "CODEX_HOME": str(home)}
        user_home = Path(task.env.get("CODEX_HOME") or Path(task.env.get("HOME") or Path.home()) / ".codex")
        copy_login([user_home / "auth.json"], home / "auth.json")
        return env

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, CodexOptions)
        options = task.options
        area = AgentArea.for_task(task)
        home = area.config_dir("codex")
        env = self.environment(task, options, home)
        extra = (options.env_key,) if options.base_url else ()
        try:
            codex, _ = await cli_tools.check_cli(cli_tools.CODEX, options.path, env, extra_credentials=extra)
        except cli_tools.AgentCliError as exc:
            return RunResult(ok=False, error=exc.message)
        resume = task.resume_session_id
        if resume and not area.adopt("codex", _has_thread(resume)):
            return RunResult(ok=False, error=f"cannot resume Codex thread {resume}: its rollout is gone")
        (home / "config.toml").write_text(
            config_toml(options), encoding="utf-8"
        )  # after adopt(), which copies an old one
        prompt = (task.follow_up or task.prompt) if resume else task.prompt
        parser = CodexExecParser()

        def unreachable() -> str | None:
            if parser.reconnects >= options.max_reconnects:
                return f"the provider is unreachable ({parser.reconnects} reconnects)"
            return None

        outcome = await run_agent(
            self.argv(codex, task, options),
            cwd=task.workdir,
            env=env,
            timeout_s=task.timeout_s,
            parser=parser,
            events=events,
            log=area.next_log(),
            stdin=prompt.encode(),
            should_stop=unreachable,
        )
        session = parser.session_id or resume
        if outcome.timed_out:
            return RunResult(ok=False, error=f"timed out after {task.timeout_s:g}s", retryable=True, session_id=session)
        if outcome.stopped:
            return RunResult(ok=False, error=f"codex stopped: {outcome.stopped}", retryable=True, session_id=session)
        # Codex reports a resumed thread's cumulative tokens; this run's share is the difference.
        spend = Spend(tokens=parser.tokens)
        if session:
            earlier = area.spent(session) if resume else Spend()
            area.record_spent(session, spend)
            spend = spend.since(earlier)
        cost = pricing.cost_of(options.model, spend.tokens, options.price)
        ok = outcome.returncode == 0 and parser.turns_completed > 0 and parser.failure is None
        error: str | None = None
        retryable = False
        if not ok:
            reason = parser.failure or "\n".join(parser.stderr[-10:]) or "no output"
            error = f"codex exited {outcome.returncode}: {reason}"
            retryable = any(word in reason.lower() for word in _TRANSIENT)
        result = RunResult(
            ok=ok,
            summary=parser.last_message,
            error=error,
            retryable=retryable,
            cost_usd=cost or 0.0,
            session_id=session,
            tokens=spend.tokens,
            model=options.model,
            turns=parser.turns_completed,
            cost_source="price-table" if cost is not None else "unpriced",
        )
        return await report_usage(events, result)
