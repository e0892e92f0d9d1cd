"""The ``codex`` runtime: OpenAI's Codex CLI run headlessly with ``codex exec --json``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Literal, cast

from pydantic import Field

from quarterdeck import sandbox
from quarterdeck.errors import RuntimeFailure
from quarterdeck.llm import pricing
from quarterdeck.runtimes import cli_tools, process
from quarterdeck.runtimes.agent_events import CodexExecParser
from quarterdeck.runtimes.agent_session import AgentArea, Spend, copy_login, json_records, report_usage, run_agent
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext, TokenUsage

__all__ = [
    "SANDBOX_FIX",
    "CodexOptions",
    "CodexRuntime",
    "config_toml",
    "native_binary",
    "probe_sandbox",
    "sandbox_helper",
    "sandbox_mode",
]

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


def sandbox_mode(options: CodexOptions) -> str:
    """Codex's own sandbox: off (``danger-full-access``) inside Quarterdeck's unless the task chose a mode —
    a nested sandbox has nothing to add there, and Codex's bubblewrap cannot start inside ours."""
    if "sandbox" not in options.model_fields_set and sandbox.current() is not None:
        return "danger-full-access"
    return options.sandbox


def config_toml(options: CodexOptions) -> str:
    """The attempt's ``$CODEX_HOME/config.toml``: headless, quiet, and the task's provider if it names one."""
    top: dict[str, str | int | bool] = {
        "approval_policy": "never",
        "sandbox_mode": sandbox_mode(options),
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


#: what a failing Codex sandbox needs, quoted in the task's error and by ``quarterdeck doctor``
SANDBOX_FIX = (
    "Codex's workspace-write sandbox runs each command through bubblewrap, which must find the "
    "`codex-linux-sandbox` helper on PATH (Quarterdeck links it next to each attempt; the link failed or "
    "points nowhere). Reinstall the CLI (`npm install -g @openai/codex`), or set the task's option "
    "`sandbox: danger-full-access` where the worktree may be written without Codex's own sandbox."
)


def native_binary(codex: Path) -> Path | None:
    """The native ``codex`` executable behind the npm wrapper (``bin/codex.js``), or ``codex`` itself."""
    real = codex.resolve()
    if real.suffix != ".js":
        return real
    package = real.parent.parent  # …/node_modules/@openai/codex
    found = [*package.parent.glob("codex-*/vendor/*/bin/codex"), *package.glob("vendor/*/bin/codex")]
    return found[0] if found else None


def sandbox_helper(codex: Path, env: Mapping[str, str], where: Path) -> str | None:
    """A PATH entry holding ``codex-linux-sandbox`` (the native binary under that name: Codex runs as its own
    sandbox helper when so called) when PATH has none; None when PATH already has one or no binary is found."""
    if shutil.which("codex-linux-sandbox", path=env.get("PATH")) is not None:
        return None
    native = native_binary(codex)
    if native is None:
        return None
    link = where / "codex-linux-sandbox"
    where.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(native)
    return str(where)


async def probe_sandbox(codex: Path, env: Mapping[str, str]) -> str | None:
    """Run a command in Codex's default (workspace-write) sandbox the way a task does (its own CODEX_HOME,
    the helper on PATH): None when it can write its working directory, else what went wrong and the fix."""
    with tempfile.TemporaryDirectory(prefix="quarterdeck-codex-probe-") as scratch:
        root = Path(scratch)
        (root / "home").mkdir()
        (root / "work").mkdir()
        probe_env = {**env, "CODEX_HOME": str(root / "home")}
        helper = sandbox_helper(codex, probe_env, root / "bin")
        if helper is not None:
            probe_env["PATH"] = helper + os.pathsep + probe_env.get("PATH", "")
        script = "touch probe && command -v codex-linux-sandbox >/dev/null && echo sandbox-ok"
        argv = [str(codex), "sandbox", "-c", 'sandbox_mode="workspace-write"', "--", "sh", "-c", script]
        try:
            result = await process.run_process(argv, cwd=root / "work", env=probe_env, timeout_s=60, grace_s=1.0)
        except RuntimeFailure as exc:
            return f"{exc}; {SANDBOX_FIX}"
        if result.returncode == 0 and "sandbox-ok" in result.output and (root / "work" / "probe").exists():
            return None
        said = "\n".join(result.output.strip().splitlines()[-5:]) or f"exit {result.returncode}"
        return f"{said}\n{SANDBOX_FIX}"


def _rollout(home: Path, thread_id: str | None) -> tuple[TokenUsage | None, str | None]:
    """The thread's cumulative tokens (its last usage record) and the model of its last turn, from the
    rollout Codex writes as it goes: what an interrupted run used, and the model that ran."""
    if thread_id is None:
        return None, None
    tokens: TokenUsage | None = None
    model: str | None = None
    for path in (home / "sessions").glob(f"*/*/*/rollout-*{thread_id}.jsonl"):
        for record in json_records(path):
            payload = record.get("payload") if isinstance(record, dict) else None
            if not isinstance(payload, dict):
                continue
            if record.get("type") == "turn_context" and isinstance(payload.get("model"), str):
                model = payload["model"]
            info = payload.get("info")
            total = None
            if record.get("type") == "token_usage_record":  # written after each response
                total = payload.get("thread_token_usage")
            elif payload.get("type") == "token_count" and isinstance(info, dict):
                total = info.get("total_token_usage")
            if isinstance(total, dict):
                count = {k: v for k, v in total.items() if isinstance(v, int)}
                cached = count.get("cached_input_tokens", 0)
                tokens = TokenUsage(
                    input=max(0, count.get("input_tokens", 0) - cached),
                    output=count.get("output_tokens", 0),
                    cache_read=cached,
                    cache_write=count.get("cache_write_input_tokens", 0),
                    reasoning=count.get("reasoning_output_tokens", 0),
                )
    return tokens, model


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
        helper = sandbox_helper(codex, env, area.root / "bin") if options.sandbox == "workspace-write" else None
        if helper is not None:
            env["PATH"] = helper + os.pathsep + env.get("PATH", "")
        prompt = (task.follow_up or task.prompt) if resume else task.prompt
        parser = CodexExecParser()
        earlier = area.spent(resume) if resume else Spend()

        def unreachable() -> str | None:
            if parser.reconnects >= options.max_reconnects:
                return f"the provider is unreachable ({parser.reconnects} reconnects)"
            return None

        def interrupted(why: str) -> RunResult:
            session = parser.session_id or resume
            cumulative, model = _rollout(home, session)
            if cumulative is not None:
                spend = Spend(tokens=cumulative)
            else:  # no rollout: the completed turns' totals, as the stream reported them
                spend = Spend(tokens=parser.tokens) if parser.turns_completed else earlier
            if session:
                area.record_spent(session, spend)
            tokens = spend.since(earlier).tokens
            model = model or options.model
            cost = pricing.cost_of(model, tokens, options.price)
            return RunResult(
                ok=False,
                error=why,
                retryable=True,
                cost_usd=cost or 0.0,
                session_id=session,
                tokens=tokens,
                model=model,
                turns=parser.turns_completed,
                cost_source="estimated" if cost is not None else "unpriced" if tokens.total else "",
            )

        try:
            outcome = await run_agent(
                self.argv(codex, task, options),
                cwd=task.workdir,
                env=env,
                timeout_s=task.timeout_s,
                parser=parser,
                events=events,
                log=area.next_log(),
                grace_s=task.kill_grace_s,
                stdin=prompt.encode(),
                should_stop=unreachable,
            )
        except asyncio.CancelledError:
            if task.meter is not None:
                task.meter.record(interrupted("cancelled"))
            raise
        session = parser.session_id or resume
        if outcome.timed_out:
            return await report_usage(events, interrupted(f"timed out after {task.timeout_s:g}s"))
        if outcome.stopped:
            return await report_usage(events, interrupted(f"codex stopped: {outcome.stopped}"))
        # Codex reports a resumed thread's cumulative tokens; this run's share is the difference.
        spend = Spend(tokens=parser.tokens)
        if session:
            area.record_spent(session, spend)
            spend = spend.since(earlier)
        model = _rollout(home, session)[1] or options.model
        cost = pricing.cost_of(model, spend.tokens, options.price)
        ok = outcome.returncode == 0 and parser.turns_completed > 0 and parser.failure is None
        error: str | None = None
        retryable = False
        if not ok:
            reason = parser.failure or "\n".join(parser.stderr[-10:]) or "no output"
            error = f"codex exited {outcome.returncode}: {reason}"
            retryable = any(word in reason.lower() for word in _TRANSIENT)
        elif parser.sandbox_failure is not None and parser.tools_failed == parser.tools_called:
            # Every tool call failed in Codex's own sandbox: the work was never tried.
            ok = False
            error = f"codex's {options.sandbox} sandbox failed every tool call: {parser.sandbox_failure}\n{SANDBOX_FIX}"
        result = RunResult(
            ok=ok,
            summary=parser.last_message,
            error=error,
            retryable=retryable,
            cost_usd=cost or 0.0,
            session_id=session,
            tokens=spend.tokens,
            model=model,
            turns=parser.turns_completed,
            cost_source="price-table" if cost is not None else "unpriced",
        )
        return await report_usage(events, result)
