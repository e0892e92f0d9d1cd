"""The ``gemini`` runtime: Google's Gemini CLI run headlessly with ``gemini -p … --output-format stream-json``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from quarterdeck.llm import pricing
from quarterdeck.runtimes import cli_tools
from quarterdeck.runtimes.agent_events import GeminiStreamParser
from quarterdeck.runtimes.agent_session import AgentArea, Spend, copy_login, json_records, report_usage, run_agent
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext, TokenUsage

__all__ = ["EXIT_CODES", "GeminiOptions", "GeminiRuntime"]

#: the CLI's documented exit codes beyond 0 and 1
EXIT_CODES = {42: "input error", 53: "turn limit reached"}
_TRANSIENT = ("429", "500", "503", "resource_exhausted", "unavailable", "overloaded", "quota")
#: offline and quiet: no telemetry, no update check, no relaunch with a bigger heap (a task's ``env`` may override)
_QUIET = {"GEMINI_TELEMETRY_ENABLED": "false", "GEMINI_CLI_NO_RELAUNCH": "true", "NO_BROWSER": "true"}


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
    #: the CLI's own tries per model request (429, 5xx) before the run fails, retryable (its default and maximum: 10)
    max_attempts: int = Field(default=10, ge=1, le=10)
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


def _chats(home: Path, session_id: str) -> list[Path]:
    """The session's chat files: gemini-cli names them ``session-<time>-<first 8 characters of the id>``."""
    found = []
    for path in (home / ".gemini" / "tmp").glob(f"*/chats/session-*{session_id[:8]}.json*"):
        try:
            with path.open(encoding="utf-8") as chat:
                head = json.loads(chat.readline() if path.suffix == ".jsonl" else chat.read())
        except (OSError, ValueError):
            continue
        if isinstance(head, dict) and head.get("sessionId") == session_id:
            found.append(path)
    return found


def _has_session(session_id: str) -> Callable[[Path], bool]:
    def contains(home: Path) -> bool:
        return bool(_chats(home, session_id))

    return contains


def _follow_into(home: Path, session_id: str, workdir: Path, slug: str) -> None:
    """Make the session's chat one of ``workdir``'s: gemini-cli looks sessions up in the chats of the project
    (the working directory) it runs in, and a retry's worktree is a new one."""
    runtime = home / ".gemini"
    registry = runtime / "projects.json"
    try:
        projects = json.loads(registry.read_text(encoding="utf-8")).get("projects", {})
    except (OSError, ValueError, AttributeError):
        projects = {}
    project = str(workdir.resolve())
    slug = projects.get(project) or slug
    for base in (runtime / "tmp" / slug, runtime / "history" / slug):
        base.mkdir(parents=True, exist_ok=True)
        (base / ".project_root").write_text(project, encoding="utf-8")
    chats = runtime / "tmp" / slug / "chats"
    chats.mkdir(exist_ok=True)
    for chat in _chats(home, session_id):
        if chat.parent != chats and not (chats / chat.name).exists():
            shutil.copy2(chat, chats / chat.name)
    registry.write_text(json.dumps({"projects": {**projects, project: slug}}, indent=2), encoding="utf-8")


def _served(home: Path, session_id: str | None) -> tuple[TokenUsage, str | None, int]:
    """What the session's responses used, from its chat file (each ``gemini`` message records its tokens):
    the tokens, the model of the last response, and how many responses."""
    if session_id is None:
        return TokenUsage(), None, 0
    messages: dict[str, Mapping[str, object]] = {}
    for chat in _chats(home, session_id):
        for record in json_records(chat):
            if isinstance(record, dict) and record.get("type") == "gemini" and isinstance(record.get("id"), str):
                messages[record["id"]] = record  # a message is written again as it completes: the last counts
    total, model = TokenUsage(), None
    for record in messages.values():
        tokens = record.get("tokens")
        if isinstance(tokens, dict):
            count = {k: v if isinstance(v, int) else 0 for k, v in tokens.items()}
            cached = count.get("cached", 0)
            total += TokenUsage(
                input=max(0, count.get("input", 0) - cached),
                output=count.get("output", 0) + count.get("thoughts", 0),
                cache_read=cached,
                reasoning=count.get("thoughts", 0),
            )
        named = record.get("model")
        model = named if isinstance(named, str) else model
    return total, model, len(messages)


def settings_json(env: Mapping[str, str], max_attempts: int = 10) -> str:
    """The attempt's ``~/.gemini/settings.json``: headless and offline (no telemetry, usage statistics or update
    checks), authenticated the way the environment says (an API key, Vertex AI, or a copied login)."""
    auth = (
        "vertex-ai"
        if env.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true")
        else "gemini-api-key"
        if env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
        else "oauth-personal"
    )
    settings = {
        "security": {"auth": {"selectedType": auth}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True, "maxAttempts": max_attempts},
    }
    return json.dumps(settings, indent=2)


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
        env = {**_QUIET, **task.env, **options.env, "GEMINI_CLI_HOME": str(home)}
        try:
            gemini, _ = await cli_tools.check_cli(cli_tools.GEMINI, options.path, env)
        except cli_tools.AgentCliError as exc:
            return RunResult(ok=False, error=exc.message)
        resume = task.resume_session_id
        if resume and not area.adopt("gemini", _has_session(resume)):
            return RunResult(ok=False, error=f"cannot resume Gemini session {resume}: it is gone")
        settings = settings_json(env, options.max_attempts)
        (home / ".gemini" / "settings.json").write_text(settings, encoding="utf-8")  # after adopt(), which copies one
        if resume:
            _follow_into(home, resume, task.workdir, f"qd-{area.root.name}")
        before = _served(home, resume)[0]
        prompt = (task.follow_up or task.prompt) if resume else task.prompt
        parser = GeminiStreamParser()

        def interrupted(why: str) -> RunResult:
            session = parser.session_id or resume
            tokens, model, turns = _served(home, session)
            spent = Spend(tokens=tokens).since(Spend(tokens=before)).tokens
            model = parser.model or model or options.model
            cost = pricing.cost_of(model, spent, options.price)
            source = "estimated" if cost is not None else "unpriced" if spent.total else ""
            return RunResult(
                ok=False,
                error=why,
                retryable=True,
                cost_usd=cost or 0.0,
                session_id=session,
                tokens=spent,
                model=model,
                turns=turns,
                cost_source=source,
            )

        try:
            outcome = await run_agent(
                self.argv(gemini, task, options, prompt),
                cwd=task.workdir,
                env=env,
                timeout_s=task.timeout_s,
                parser=parser,
                events=events,
                log=area.next_log(),
                grace_s=task.kill_grace_s,
            )
        except asyncio.CancelledError:
            if task.meter is not None:
                task.meter.record(interrupted("cancelled"))
            raise
        session = parser.session_id or resume
        if outcome.timed_out:
            return await report_usage(events, interrupted(f"timed out after {task.timeout_s:g}s"))
        result = parser.result
        if result is None:
            reason = EXIT_CODES.get(outcome.returncode) or "\n".join(parser.stderr[-10:]) or "no output"
            run = interrupted(f"gemini exited {outcome.returncode} without a result: {reason}")
            return await report_usage(events, dataclasses.replace(run, retryable=_transient(reason)))
        model = result.model or options.model
        cost = pricing.cost_of(model, result.tokens, options.price)
        ok = result.ok and outcome.returncode == 0
        error = None if ok else (result.error or EXIT_CODES.get(outcome.returncode) or f"exit {outcome.returncode}")
        run = RunResult(
            ok=ok,
            summary=result.text,
            error=error,
            retryable=not ok and _transient(error or ""),
            cost_usd=cost or 0.0,
            session_id=session,
            tokens=result.tokens,
            model=model,
            turns=result.turns,
            cost_source="price-table" if cost is not None else "unpriced",
        )
        return await report_usage(events, run)


def _transient(error: str) -> bool:
    return any(word in error.lower() for word in _TRANSIENT)
