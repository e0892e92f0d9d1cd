"""The ``api-agent`` runtime: Quarterdeck's own tool-use loop over any LLM API, confined to the worktree.

Each completed turn (a model answer and the results of its tool calls) is checkpointed: the conversation
and a snapshot of the worktree's files go to the engine (``TaskContext.save_state``, kept in the database
with the task) and to ``conversation-<session>.json`` in the attempt's area. An attempt that dies mid-loop
is resumed by the next one, on any worker, from its last completed turn without sending any completed model
call again; a revision after a failed verification continues the same conversation (``api_agent_state.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
import uuid
from collections.abc import Mapping
from typing import ClassVar, cast

from pydantic import Field

from quarterdeck.llm import cassette as cassettes
from quarterdeck.llm import limiters
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.messages import Message, Request, ToolResultBlock
from quarterdeck.llm.provider import ProviderError
from quarterdeck.llm.ratelimit import Limiter
from quarterdeck.llm.router import Call, RetryPolicy, Router
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.runtimes import api_agent_state as state
from quarterdeck.runtimes.agent_session import AgentArea, report_usage
from quarterdeck.runtimes.api_agent_state import Pending, Transcript
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext
from quarterdeck.runtimes.mcp_tools import McpError, McpTools
from quarterdeck.runtimes.tools import READ_ONLY_TOOLS, Toolbox, describe

__all__ = ["ApiAgentOptions", "ApiAgentRuntime", "system_prompt"]

_PROVIDERS = "quarterdeck.llm.providers"


class ApiAgentOptions(RuntimeOptions):
    """The api-agent's settings, per task: the route (models in order of preference) and the loop's limits."""

    models: list[Endpoint] = Field(min_length=1)
    max_turns: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=4096, ge=1)
    #: the longest one ``run_command`` may take
    command_timeout_s: float = Field(default=120.0, gt=0)
    #: characters of tool output the model sees (the rest is dropped, with a note)
    output_limit: int = Field(default=16_000, ge=100)
    #: tries per model before falling back (default: ``QUARTERDECK_LLM_MAX_ATTEMPTS``)
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_base_s: float | None = Field(default=None, ge=0)
    #: record this task's model exchanges into a cassette (default: ``QUARTERDECK_LLM_RECORD``)
    record: str | None = None
    #: play this task's model exchanges back from a cassette (default: ``QUARTERDECK_LLM_REPLAY``)
    replay: str | None = None
    #: further instructions appended to the system prompt
    instructions: str | None = None


def system_prompt(task: TaskContext, options: ApiAgentOptions) -> str:
    """What the model is told: its role, the task, how done is judged, and how to use its tools."""
    parts = [
        "You are a coding agent working in a git worktree. Use the tools to read, change and test the code;",
        "every path is relative to the worktree root. Do not commit: Quarterdeck commits your work.",
        "When the task is done, answer with a short summary and no tool call.",
        "",
        f"# Task: {task.title}",
    ]
    if task.acceptance_criteria:
        parts += ["", "## Acceptance criteria", *(f"- {c}" for c in task.acceptance_criteria)]
    if task.verify:
        parts += ["", "## Verification (these commands must pass)", *(f"- `{c}`" for c in task.verify)]
    if options.instructions:
        parts += ["", options.instructions]
    return "\n".join(parts)


class _Checkpoint:
    """Where the transcript goes after each completed turn: the engine (the database) and the attempt's area."""

    def __init__(self, task: TaskContext, area: AgentArea, transcript: Transcript, parent: str) -> None:
        self.task = task
        self.area = area
        self.transcript = transcript
        #: the commit snapshots are taken on top of: the worktree's HEAD when this run began
        self.parent = parent

    @staticmethod
    def from_disk(area: AgentArea, session: str) -> Transcript | None:
        """The session's transcript as an earlier attempt on this machine left it in its area."""
        for candidate in (area, *area.siblings()):
            try:
                data = json.loads((candidate.root / f"conversation-{session}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "format" not in data:  # written before transcripts had a format
                data = {**data, "format": "api-agent/1", "session": session}
            found = Transcript.from_json(data)
            if found is not None:
                return found
        return None

    async def snapshot(self) -> None:
        """Keep the worktree's files as they are now with the transcript."""
        self.transcript.snapshot = await state.take_snapshot(
            self.task.workdir,
            index=self.area.root / "checkpoint.index",
            parent=self.parent,
            ref=state.checkpoint_ref(self.task.run_id, self.task.task_id),
        )

    async def save(self, pending: Pending | None) -> None:
        """Write the transcript; ``pending`` is this run's unreported spend (None once the run reports it)."""
        self.transcript.pending = pending
        data = self.transcript.to_json()
        path = self.area.root / f"conversation-{self.transcript.session}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
        if self.task.save_state is not None:
            await self.task.save_state(data)


class ApiAgentRuntime:
    """A model (through the router) calls tools in the worktree until it answers without one."""

    name: ClassVar[str] = "api-agent"
    Options: ClassVar[type[RuntimeOptions]] = ApiAgentOptions

    @classmethod
    def provider_key(cls, options: RuntimeOptions) -> str:
        """The first key of the preferred model: what the task spends through while nothing fails over."""
        return cast(ApiAgentOptions, options).models[0].key_names()[0]

    #: settings and key source; tests register a subclass that sets these instead of touching the environment
    settings: ClassVar[LlmSettings | None] = None
    environ: ClassVar[Mapping[str, str] | None] = None

    def limiter(self, settings: LlmSettings) -> contextlib.AbstractAsyncContextManager[Limiter]:
        """The buckets every call draws from: Redis, the database (all workers), or this process's."""
        return limiters.open_limiter(settings)

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, ApiAgentOptions)
        options = task.options
        settings = self.settings or LlmSettings()
        environ = {**os.environ, **task.env, **(self.environ or {})}
        secret_names = {name for e in options.models for name in e.key_names()}
        tool_env = {k: v for k, v in task.env.items() if k not in secret_names}
        toolbox = Toolbox(
            task.workdir, env=tool_env, command_timeout_s=options.command_timeout_s, output_limit=options.output_limit
        )
        area = AgentArea.for_task(task)
        if _PROVIDERS not in sys.modules:  # the SDKs take seconds to import: not on the loop the heartbeat needs
            await asyncio.to_thread(importlib.import_module, _PROVIDERS)
        async with self.limiter(settings) as limiter:
            try:
                async with McpTools.open(
                    task.mcp_servers, workdir=task.workdir, env=tool_env, grace_s=task.kill_grace_s
                ) as mcp:
                    return await self._run(task, events, options, settings, environ, toolbox, mcp, area, limiter)
            except McpError as error:
                return RunResult(ok=False, error=str(error))

    async def _run(
        self,
        task: TaskContext,
        events: EventSink,
        options: ApiAgentOptions,
        settings: LlmSettings,
        environ: Mapping[str, str],
        toolbox: Toolbox,
        mcp: McpTools,
        area: AgentArea,
        limiter: Limiter,
    ) -> RunResult:
        # a task's own cassette path is relative to its plan file; the settings' to the working directory
        record = task.plan_dir / options.record if options.record else settings.record
        replay = task.plan_dir / options.replay if options.replay else settings.replay
        scope = f"{task.task_id}/{task.attempt}"
        router = Router(
            options.models,
            environ=environ,
            policy=RetryPolicy(
                max_attempts=options.max_attempts or settings.max_attempts,
                backoff_base_s=settings.backoff_base_s if options.backoff_base_s is None else options.backoff_base_s,
                backoff_max_s=settings.backoff_max_s,
            ),
            limiter=limiter,
            prices=settings.prices,
            events=events,
            recorder=cassettes.Cassette(record, workdir=task.workdir, scope=scope) if record else None,
            playback=cassettes.Cassette(replay, workdir=task.workdir, mode="replay", scope=scope) if replay else None,
        )
        checkpoint, carried, finished = await self._resume(task, area, events)
        if checkpoint is None:
            return RunResult(
                ok=False, error=f"cannot resume api-agent session {task.resume_session_id}: its conversation is gone"
            )
        await events(
            "agent.session", session_id=checkpoint.transcript.session, model=options.models[0].label, version=None
        )
        if finished:  # the session had answered before its attempt died: its work is back in the worktree
            await checkpoint.save(None)
            return await report_usage(events, _result(carried, checkpoint, True, summary=finished))
        result = await self._loop(task, options, router, toolbox, mcp, checkpoint, carried, events)
        return await report_usage(events, result)

    async def _resume(
        self, task: TaskContext, area: AgentArea, events: EventSink
    ) -> tuple[_Checkpoint | None, Pending, str | None]:
        """The checkpoint this run goes on from, the unreported spend it inherits, and a final answer if the
        session had already given one (nothing left to do); no checkpoint when the session asked for is gone."""
        parent = await state.head(task.workdir)
        kept = Transcript.from_json(task.resume_state) if task.resume_state is not None else None
        plan = state.resume_plan(kept, task.resume_session_id)
        carried = kept.pending if kept is not None and kept.pending is not None else Pending()
        if kept is not None and plan in ("continue", "finished"):
            problem = await state.restore_snapshot(task.workdir, kept.snapshot) if kept.snapshot else None
            if problem is None:
                await events(
                    "agent.resumed", session_id=kept.session, turns=kept.turns, snapshot=kept.snapshot, how=plan
                )
                checkpoint = _Checkpoint(task, area, kept, parent)
                return checkpoint, carried, (kept.messages[-1].text() or "done") if plan == "finished" else None
            await events("agent.resume_failed", session_id=kept.session, error=problem)
            plan = "fresh"
        if plan == "follow-up" and kept is not None:
            transcript: Transcript | None = kept
        elif plan == "elsewhere" and task.resume_session_id is not None:
            transcript = _Checkpoint.from_disk(area, task.resume_session_id)
            if transcript is None:
                return None, carried, None
        else:
            transcript = None
        if transcript is None:
            transcript = Transcript(f"qd-{uuid.uuid4().hex[:16]}", [Message.user(task.prompt)])
        else:
            transcript.messages.append(Message.user(task.follow_up or task.prompt))
        transcript.snapshot = None  # the engine prepared the worktree with the session's committed work
        checkpoint = _Checkpoint(task, area, transcript, parent)
        await checkpoint.save(carried)
        return checkpoint, carried, None

    async def _loop(
        self,
        task: TaskContext,
        options: ApiAgentOptions,
        router: Router,
        toolbox: Toolbox,
        mcp: McpTools,
        checkpoint: _Checkpoint,
        spend: Pending,
        events: EventSink,
    ) -> RunResult:
        system = system_prompt(task, options)
        conversation = checkpoint.transcript

        async def end(ok: bool, summary: str = "", error: str | None = None, retryable: bool = False) -> RunResult:
            await checkpoint.save(None)  # this run's spend is reported in its result from here on
            return _result(spend, checkpoint, ok, summary=summary, error=error, retryable=retryable)

        while True:
            if spend.turns >= options.max_turns:
                return await end(False, error=f"stopped after max_turns={options.max_turns} without a final answer")
            if task.budget_usd is not None and spend.cost_usd + spend.dearest_usd > task.budget_usd:
                return await end(
                    False,
                    error=f"budget exhausted: spent ${spend.cost_usd:.4f} of ${task.budget_usd:.4f} for this step",
                )
            request = Request(
                model=options.models[0].model,
                system=system,
                messages=tuple(conversation.messages),
                tools=toolbox.specs() + mcp.specs(),
                max_tokens=options.max_tokens,
            )
            try:
                call: Call = await router.complete(request)
            except ProviderError as error:
                return await end(False, error=error.message, retryable=error.retryable)
            spend.turns += 1
            spend.cost_usd += call.cost_usd
            spend.dearest_usd = max(spend.dearest_usd, call.cost_usd)
            spend.tokens = spend.tokens + call.tokens
            spend.unpriced = spend.unpriced or call.cost_source == "unpriced"
            spend.model = call.model
            reply = call.response
            if reply.text().strip():
                await events("agent.message", text=reply.text()[:4000])
            uses = reply.tool_uses()
            conversation.messages.append(reply.message())
            conversation.turns += 1
            if not uses:
                return await end(True, summary=reply.text())
            results: list[ToolResultBlock] = []
            for use in uses:
                await events("agent.tool", tool=use.name, input=describe(use.arguments), id=use.id)
                if mcp.owns(use.name):
                    outcome = await mcp.call(use.name, use.arguments)
                else:
                    outcome = await toolbox.call(use.name, use.arguments)
                await events(
                    "agent.output", stream="tool", text=outcome.output[:4000], id=use.id, is_error=outcome.is_error
                )
                results.append(ToolResultBlock(tool_use_id=use.id, content=outcome.output, is_error=outcome.is_error))
            conversation.messages.append(Message(role="user", content=tuple(results)))
            if any(use.name not in READ_ONLY_TOOLS for use in uses):
                await checkpoint.snapshot()
            await checkpoint.save(spend)


def _result(
    spend: Pending,
    checkpoint: _Checkpoint,
    ok: bool,
    *,
    summary: str = "",
    error: str | None = None,
    retryable: bool = False,
) -> RunResult:
    return RunResult(
        ok=ok,
        summary=summary,
        error=error,
        retryable=retryable,
        cost_usd=spend.cost_usd,
        session_id=checkpoint.transcript.session,
        tokens=spend.tokens,
        model=spend.model,
        turns=spend.turns,
        cost_source="unpriced" if spend.unpriced else ("price-table" if spend.turns else ""),
    )
