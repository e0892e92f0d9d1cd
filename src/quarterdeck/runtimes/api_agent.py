"""The ``api-agent`` runtime: Quarterdeck's own tool-use loop over any LLM API, confined to the worktree.

Each completed turn (a model answer and the results of its tool calls) is saved to
``conversation-<session>.json`` in the attempt's area, so a resumed session (a revision after a
failed verification, or a retry) continues from its last completed turn instead of starting over.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from quarterdeck.llm import cassette as cassettes
from quarterdeck.llm import limiters
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.messages import Message, Request, ToolResultBlock
from quarterdeck.llm.provider import ProviderError
from quarterdeck.llm.ratelimit import Limiter
from quarterdeck.llm.router import Call, RetryPolicy, Router
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.runtimes.agent_session import AgentArea, report_usage
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext, TokenUsage
from quarterdeck.runtimes.tools import Toolbox, describe

__all__ = ["ApiAgentOptions", "ApiAgentRuntime", "system_prompt"]


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


class _Conversation:
    """The session's messages, turns and spend, saved after each completed turn."""

    def __init__(self, path: Path, messages: list[Message], turns: int = 0) -> None:
        self.path = path
        self.messages = messages
        self.turns = turns

    @classmethod
    def load(cls, area: AgentArea, session: str) -> _Conversation | None:
        name = f"conversation-{session}.json"
        for candidate in (area, *area.siblings()):
            path = candidate.root / name
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            messages = [Message.model_validate(m) for m in data.get("messages", [])]
            return cls(area.root / name, messages, int(data.get("turns", 0)))
        return None

    def save(self) -> None:
        data = {"messages": [m.model_dump(mode="json") for m in self.messages], "turns": self.turns}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.path)


class ApiAgentRuntime:
    """A model (through the router) calls tools in the worktree until it answers without one."""

    name: ClassVar[str] = "api-agent"
    Options: ClassVar[type[RuntimeOptions]] = ApiAgentOptions
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
        async with self.limiter(settings) as limiter:
            return await self._run(task, events, options, settings, environ, toolbox, area, limiter)

    async def _run(
        self,
        task: TaskContext,
        events: EventSink,
        options: ApiAgentOptions,
        settings: LlmSettings,
        environ: Mapping[str, str],
        toolbox: Toolbox,
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
        session = task.resume_session_id
        conversation = _Conversation.load(area, session) if session else None
        if session and conversation is None:
            return RunResult(ok=False, error=f"cannot resume api-agent session {session}: its conversation is gone")
        if conversation is None or session is None:
            session = f"qd-{uuid.uuid4().hex[:16]}"
            conversation = _Conversation(area.root / f"conversation-{session}.json", [Message.user(task.prompt)])
        else:
            conversation.messages.append(Message.user(task.follow_up or task.prompt))
        conversation.save()
        await events("agent.session", session_id=session, model=options.models[0].label, version=None)
        return await report_usage(
            events, await self._loop(task, options, router, toolbox, conversation, session, events)
        )

    async def _loop(
        self,
        task: TaskContext,
        options: ApiAgentOptions,
        router: Router,
        toolbox: Toolbox,
        conversation: _Conversation,
        session: str,
        events: EventSink,
    ) -> RunResult:
        system = system_prompt(task, options)
        spent = 0.0
        dearest = 0.0
        tokens = TokenUsage()
        unpriced = False
        model: str | None = None
        turns = 0

        def result(ok: bool, summary: str = "", error: str | None = None, retryable: bool = False) -> RunResult:
            return RunResult(
                ok=ok,
                summary=summary,
                error=error,
                retryable=retryable,
                cost_usd=spent,
                session_id=session,
                tokens=tokens,
                model=model,
                turns=turns,
                cost_source="unpriced" if unpriced else ("price-table" if turns else ""),
            )

        while True:
            if turns >= options.max_turns:
                return result(False, error=f"stopped after max_turns={options.max_turns} without a final answer")
            if task.budget_usd is not None and spent + dearest > task.budget_usd:
                return result(
                    False, error=f"budget exhausted: spent ${spent:.4f} of ${task.budget_usd:.4f} for this step"
                )
            request = Request(
                model=options.models[0].model,
                system=system,
                messages=tuple(conversation.messages),
                tools=toolbox.specs(),
                max_tokens=options.max_tokens,
            )
            try:
                call: Call = await router.complete(request)
            except ProviderError as error:
                return result(False, error=error.message, retryable=error.retryable)
            turns += 1
            spent += call.cost_usd
            dearest = max(dearest, call.cost_usd)
            tokens = tokens + call.tokens
            unpriced = unpriced or call.cost_source == "unpriced"
            model = call.model
            reply = call.response
            if reply.text().strip():
                await events("agent.message", text=reply.text()[:4000])
            uses = reply.tool_uses()
            conversation.messages.append(reply.message())
            if not uses:
                conversation.turns += 1
                conversation.save()
                return result(True, summary=reply.text())
            results: list[ToolResultBlock] = []
            for use in uses:
                await events("agent.tool", tool=use.name, input=describe(use.arguments), id=use.id)
                outcome = await toolbox.call(use.name, use.arguments)
                await events(
                    "agent.output", stream="tool", text=outcome.output[:4000], id=use.id, is_error=outcome.is_error
                )
                results.append(ToolResultBlock(tool_use_id=use.id, content=outcome.output, is_error=outcome.is_error))
            conversation.messages.append(Message(role="user", content=tuple(results)))
            conversation.turns += 1
            conversation.save()
