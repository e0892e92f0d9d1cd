"""Quarterdeck's own agent-event model, and tolerant parsers of each agent CLI's JSON lines.

Each CLI prints one JSON object per line. The parsers map what they know onto a handful of event
classes and keep everything else as ``Unknown`` with the raw object: a new or renamed event type
in a later CLI version is recorded, never fatal. Lines that are not JSON (stderr is merged into the
stream) become ``Notice`` events. Fields are read by key, never by position, and every field is
optional: a missing one gives a default, not an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.runtimes.base import TokenUsage

__all__ = [
    "AgentEvent",
    "ClaudeStreamParser",
    "CodexExecParser",
    "GeminiStreamParser",
    "Init",
    "Notice",
    "Result",
    "Retry",
    "Text",
    "ToolCall",
    "ToolResult",
    "Unknown",
    "Usage",
    "sink_event",
]

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Init:
    """The agent started a session."""

    session_id: str | None
    model: str | None = None
    cwd: str | None = None
    tools: tuple[str, ...] = ()
    version: str | None = None
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Text:
    """The model said something (``thinking``: its visible reasoning)."""

    text: str
    thinking: bool = False
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model called a tool; ``id`` pairs it with its ``ToolResult``."""

    id: str | None
    name: str
    input: Any = None
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's answer to the model."""

    id: str | None
    output: str
    is_error: bool = False
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Retry:
    """The provider answered with an error and the CLI will try again."""

    attempt: int | None
    max_retries: int | None = None
    delay_ms: float | None = None
    status: int | None = None
    error: str | None = None
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Notice:
    """A non-fatal message: a warning from the CLI, or a line of its stderr."""

    message: str
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one turn used (Codex reports usage per turn, not per run)."""

    tokens: TokenUsage
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Result:
    """How the agent's run ended, as the agent reported it (or as inferred from its exit)."""

    ok: bool
    text: str = ""
    session_id: str | None = None
    error: str | None = None
    #: the provider's HTTP status when the run died on an API error
    error_status: int | None = None
    #: the CLI's own name for how it ended (``success``, ``error_max_turns``, …)
    subtype: str | None = None
    turns: int = 0
    #: cost the agent itself reported; ``None`` when it reports none (Codex, Gemini)
    cost_usd: float | None = None
    tokens: TokenUsage = field(default_factory=TokenUsage)
    model: str | None = None
    raw: Raw = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Unknown:
    """Anything the parser does not model, kept as it came."""

    raw: Raw


AgentEvent = Init | Text | ToolCall | ToolResult | Retry | Notice | Usage | Result | Unknown


def _load(line: str) -> Raw | str | None:
    """A JSON object, the stripped line when it is not one, or None for a blank line."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    return obj if isinstance(obj, dict) else {"value": obj}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _map(value: Any) -> Raw:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    return _int(value) or 0


def _content_text(content: Any) -> str:
    """A tool result's content: a string, or a list of blocks with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for block in content if (t := _str(_map(block).get("text"))) is not None)
    return "" if content is None else json.dumps(content)


class ClaudeStreamParser:
    """``claude -p … --output-format stream-json --verbose``; success is ``is_error``, not ``subtype``."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.model: str | None = None
        self.result: Result | None = None
        self.stderr: list[str] = []
        #: per API response (message id) of this invocation: its usage, output tokens estimated from its content
        #: (the ``assistant`` events carry ``message_start``'s usage, whose ``output_tokens`` is not final)
        self._served: dict[str, TokenUsage] = {}

    @property
    def turns_served(self) -> int:
        """API responses streamed so far in this invocation."""
        return len(self._served)

    def served(self) -> TokenUsage:
        """What the responses streamed so far used, for a run that never reached its ``result`` (estimated)."""
        total = TokenUsage()
        for tokens in self._served.values():
            total += tokens
        return total

    def _count_served(self, message: Raw) -> None:
        message_id = _str(message.get("id"))
        if message_id is None:
            return
        usage = _map(message.get("usage"))
        content = json.dumps(message.get("content"), separators=(",", ":")) if message.get("content") else ""
        seen = self._served.get(message_id)
        written = (seen.output if seen is not None else 0) + (len(content) + 3) // 4  # ~4 characters a token
        self._served[message_id] = TokenUsage(
            input=_count(usage.get("input_tokens")) or (seen.input if seen else 0),
            output=max(_count(usage.get("output_tokens")), written),
            cache_read=_count(usage.get("cache_read_input_tokens")) or (seen.cache_read if seen else 0),
            cache_write=_count(usage.get("cache_creation_input_tokens")) or (seen.cache_write if seen else 0),
        )

    def feed(self, line: str) -> list[AgentEvent]:
        obj = _load(line)
        if obj is None:
            return []
        if isinstance(obj, str):
            self.stderr = [*self.stderr[-19:], obj]
            return [Notice(obj)]
        self.session_id = _str(obj.get("session_id")) or self.session_id
        kind, subtype = obj.get("type"), obj.get("subtype")
        if kind == "system" and subtype == "init":
            self.model = _str(obj.get("model")) or self.model
            tools = obj.get("tools")
            return [
                Init(
                    self.session_id,
                    self.model,
                    _str(obj.get("cwd")),
                    tuple(t for t in tools if isinstance(t, str)) if isinstance(tools, list) else (),
                    _str(obj.get("claude_code_version")),
                    obj,
                )
            ]
        if kind == "system" and subtype == "api_retry":
            return [
                Retry(
                    _int(obj.get("attempt")),
                    _int(obj.get("max_retries")),
                    _num(obj.get("retry_delay_ms")),
                    _int(obj.get("error_status")),
                    _str(obj.get("error")),
                    obj,
                )
            ]
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "user":
            return self._user(obj)
        if kind == "result":
            self.result = self._result(obj)
            return [self.result]
        if kind == "stream_event":
            event = _map(obj.get("event"))
            message_id = _str(obj.get("api_message_id"))
            if event.get("type") == "message_delta" and message_id in self._served:
                # (with --include-partial-messages) the response's final output tokens
                seen = self._served[message_id]
                final = _int(_map(event.get("usage")).get("output_tokens"))
                if final is not None:
                    self._served[message_id] = TokenUsage(seen.input, final, seen.cache_read, seen.cache_write)
            return []  # partial deltas repeat what the ``assistant`` events carry whole; the raw file keeps them
        return [Unknown(obj)]

    def _assistant(self, obj: Raw) -> list[AgentEvent]:
        message = _map(obj.get("message"))
        if obj.get("is_api_error_message"):
            return [Notice(_content_text(message.get("content")) or "API error", obj)]
        model = _str(message.get("model"))
        if model and not model.startswith("<"):
            self.model = model
            self._count_served(message)
        blocks = message.get("content")
        events: list[AgentEvent] = []
        for block in blocks if isinstance(blocks, list) else []:
            item = _map(block)
            match item.get("type"):
                case "text":
                    events.append(Text(_str(item.get("text")) or "", raw=obj))
                case "thinking":
                    events.append(Text(_str(item.get("thinking")) or "", thinking=True, raw=obj))
                case "tool_use":
                    name = _str(item.get("name")) or "?"
                    events.append(ToolCall(_str(item.get("id")), name, item.get("input"), obj))
                case _:
                    events.append(Unknown(obj))
        return events

    def _user(self, obj: Raw) -> list[AgentEvent]:
        blocks = _map(obj.get("message")).get("content")
        events: list[AgentEvent] = []
        for block in blocks if isinstance(blocks, list) else []:
            item = _map(block)
            if item.get("type") == "tool_result":
                output = _content_text(item.get("content"))
                events.append(ToolResult(_str(item.get("tool_use_id")), output, item.get("is_error") is True, obj))
        return events or [Unknown(obj)]

    def _result(self, obj: Raw) -> Result:
        usage = _map(obj.get("usage"))
        tokens = TokenUsage(
            input=_count(usage.get("input_tokens")),
            output=_count(usage.get("output_tokens")),
            cache_read=_count(usage.get("cache_read_input_tokens")),
            cache_write=_count(usage.get("cache_creation_input_tokens")),
        )
        models = [m for m in _map(obj.get("modelUsage")) if isinstance(m, str)]
        is_error = obj.get("is_error") is not False  # absent or anything but false is an error
        text = _str(obj.get("result")) or ""
        errors = obj.get("errors")
        error = None
        if is_error:
            listed = [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
            error = "; ".join(listed) or text or _str(obj.get("subtype")) or "the agent reported an error"
        return Result(
            ok=not is_error,
            text=text,
            session_id=self.session_id,
            error=error,
            error_status=_int(obj.get("api_error_status")),
            subtype=_str(obj.get("subtype")),
            turns=_count(obj.get("num_turns")),
            cost_usd=_num(obj.get("total_cost_usd")),
            tokens=tokens,
            model=models[0] if len(models) == 1 else self.model,
            raw=obj,
        )


class CodexExecParser:
    """``codex exec --json``: items become events; success is exit 0 with a completed turn."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.last_message = ""
        self.tokens = TokenUsage()
        self.turns_completed = 0
        self.failure: str | None = None
        self.reconnects = 0
        self.stderr: list[str] = []
        self._started: set[str] = set()
        #: commands and file changes the agent ran, and how many failed
        self.tools_called = 0
        self.tools_failed = 0
        #: the first message showing Codex's own sandbox (not the command) failed
        self.sandbox_failure: str | None = None

    def _saw(self, text: str) -> None:
        if self.sandbox_failure is None and any(word in text.lower() for word in _SANDBOX_WORDS):
            self.sandbox_failure = next(
                (line.strip() for line in text.splitlines() if any(w in line.lower() for w in _SANDBOX_WORDS)),
                text.strip(),
            )[:500]

    def _tool_done(self, failed: bool, output: str) -> None:
        self.tools_called += 1
        self.tools_failed += failed
        if failed:
            self._saw(output)

    def feed(self, line: str) -> list[AgentEvent]:
        obj = _load(line)
        if obj is None:
            return []
        if isinstance(obj, str):
            self.stderr = [*self.stderr[-19:], obj]
            self._saw(obj)
            return [Notice(obj)]
        match obj.get("type"):
            case "thread.started":
                self.session_id = _str(obj.get("thread_id")) or self.session_id
                return [Init(self.session_id, raw=obj)]
            case "turn.started":
                return []
            case "turn.completed":
                usage = _map(obj.get("usage"))
                turn = TokenUsage(
                    # Codex's input_tokens include the cached ones; ours do not.
                    input=max(0, _count(usage.get("input_tokens")) - _count(usage.get("cached_input_tokens"))),
                    output=_count(usage.get("output_tokens")),
                    cache_read=_count(usage.get("cached_input_tokens")),
                    cache_write=_count(usage.get("cache_write_input_tokens")),
                    reasoning=_count(usage.get("reasoning_output_tokens")),
                )
                self.tokens += turn
                self.turns_completed += 1
                self.reconnects = 0
                return [Usage(turn, obj)]
            case "turn.failed":
                self.failure = _str(_map(obj.get("error")).get("message")) or "the turn failed"
                return [Notice(self.failure, obj)]
            case "error":
                message = _str(obj.get("message")) or "error"
                if message.startswith("Reconnecting"):
                    self.reconnects += 1
                return [Notice(message, obj)]
            case "item.started" | "item.updated" | "item.completed" as phase:
                return self._item(phase, obj)
        return [Unknown(obj)]

    def _item(self, phase: str, obj: Raw) -> list[AgentEvent]:
        item = _map(obj.get("item"))
        item_id = _str(item.get("id"))
        done = phase == "item.completed"
        match item.get("type"):
            case "agent_message" if done:
                self.last_message = _str(item.get("text")) or ""
                return [Text(self.last_message, raw=obj)]
            case "reasoning" if done:
                return [Text(_str(item.get("text")) or "", thinking=True, raw=obj)]
            case "agent_message" | "reasoning":
                return []
            case "command_execution":
                call = ToolCall(item_id, "command", {"command": item.get("command")}, obj)
                output = _str(item.get("aggregated_output")) or ""
                failed = item.get("status") == "failed" or _count(item.get("exit_code")) != 0
                if done:
                    self._tool_done(failed, output)
                return self._call_then_result(phase, item_id, call, ToolResult(item_id, output, failed, obj))
            case "file_change":
                changes = [_map(c) for c in item.get("changes") or [] if isinstance(c, Mapping)]
                call = ToolCall(item_id, "file_change", {"changes": changes}, obj)
                summary = "\n".join(f"{c.get('kind', '?')} {c.get('path', '?')}" for c in changes)
                result = ToolResult(item_id, summary, item.get("status") == "failed", obj)
                if done:
                    self._tool_done(result.is_error, summary)
                return self._call_then_result(phase, item_id, call, result)
            case "mcp_tool_call":
                name = f"{item.get('server', '?')}.{item.get('tool', '?')}"
                call = ToolCall(item_id, name, item.get("arguments"), obj)
                error = _map(item.get("error")).get("message")
                output = _str(error) or _content_text(_map(item.get("result")).get("content"))
                return self._call_then_result(phase, item_id, call, ToolResult(item_id, output, error is not None, obj))
            case "web_search":
                call = ToolCall(item_id, "web_search", {"query": item.get("query")}, obj)
                return self._call_then_result(phase, item_id, call, None)
            case "error" if done:
                return [Notice(_str(item.get("message")) or "error", obj)]
        return [Unknown(obj)] if done else []

    def _call_then_result(
        self, phase: str, item_id: str | None, call: ToolCall, result: ToolResult | None
    ) -> list[AgentEvent]:
        key = item_id or ""
        if phase != "item.completed":
            if key in self._started:
                return []
            self._started.add(key)
            return [call]
        events: list[AgentEvent] = [] if key in self._started else [call]
        self._started.discard(key)
        return [*events, result] if result is not None else events


class GeminiStreamParser:
    """``gemini -p … --output-format stream-json``: assistant deltas are joined into one ``Text``."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.model: str | None = None
        self.result: Result | None = None
        self.stderr: list[str] = []
        self.text: list[str] = []
        self._pending: list[str] = []

    def feed(self, line: str) -> list[AgentEvent]:
        obj = _load(line)
        if obj is None:
            return []
        if isinstance(obj, str):
            self.stderr = [*self.stderr[-19:], obj]
            return [*self.flush(), Notice(obj)]
        kind = obj.get("type")
        if kind == "message" and obj.get("role") == "assistant":
            chunk = _str(obj.get("content")) or ""
            self.text.append(chunk)
            if obj.get("delta") is True:
                self._pending.append(chunk)
                return []
            return [*self.flush(), Text(chunk, raw=obj)]
        events = self.flush()
        match kind:
            case "init":
                self.session_id = _str(obj.get("session_id")) or self.session_id
                self.model = _str(obj.get("model")) or self.model
                return [*events, Init(self.session_id, self.model, raw=obj)]
            case "message":
                return events  # the user's own prompt, echoed
            case "tool_use":
                name = _str(obj.get("tool_name")) or "?"
                return [*events, ToolCall(_str(obj.get("tool_id")), name, obj.get("parameters"), obj)]
            case "tool_result":
                error = _map(obj.get("error"))
                output = _str(obj.get("output")) or _str(error.get("message")) or ""
                return [*events, ToolResult(_str(obj.get("tool_id")), output, obj.get("status") == "error", obj)]
            case "error":
                return [*events, Notice(_str(obj.get("message")) or "error", obj)]
            case "result":
                self.result = self._result(obj)
                return [*events, self.result]
        return [*events, Unknown(obj)]

    def flush(self) -> list[AgentEvent]:
        """The assistant text gathered from deltas so far, as one event."""
        if not self._pending:
            return []
        text, self._pending = "".join(self._pending), []
        return [Text(text)]

    def _result(self, obj: Raw) -> Result:
        stats = _map(obj.get("stats"))
        cached = _count(stats.get("cached"))
        uncached = _int(stats.get("input"))
        tokens = TokenUsage(
            # ``input_tokens`` already includes the cached tokens in current versions; ``input`` does not.
            input=uncached if uncached is not None else max(0, _count(stats.get("input_tokens")) - cached),
            output=_count(stats.get("output_tokens")),
            cache_read=cached,
        )
        models = [m for m in _map(stats.get("models")) if isinstance(m, str)]
        ok = obj.get("status") == "success"
        error = _map(obj.get("error"))
        message = _str(error.get("message")) or _str(error.get("type")) or "the agent reported an error"
        return Result(
            ok=ok,
            text="".join(self.text),
            session_id=self.session_id,
            error=None if ok else message,
            subtype=_str(obj.get("status")),
            turns=_count(stats.get("tool_calls")),
            tokens=tokens,
            model=models[0] if len(models) == 1 else self.model,
            raw=obj,
        )


#: what a Codex tool's output says when Codex's own sandbox, not the command, failed
_SANDBOX_WORDS = ("bwrap:", "codex-linux-sandbox", "landlock", "sandbox denied", "seccomp")

#: the most characters of a tool's output or input copied into an event (the raw JSONL keeps all)
_EVENT_TEXT = 4000


def _clip(text: str) -> str:
    return text if len(text) <= _EVENT_TEXT else text[:_EVENT_TEXT] + f"… [{len(text) - _EVENT_TEXT} more]"


def _clip_json(value: Any) -> Any:
    encoded = json.dumps(value, default=str)
    return value if len(encoded) <= _EVENT_TEXT else _clip(encoded)


def sink_event(event: AgentEvent) -> tuple[str, dict[str, Any]] | None:
    """The Quarterdeck event (type and payload) an agent event becomes, or None for none."""
    match event:
        case Init():
            return "agent.session", {"session_id": event.session_id, "model": event.model, "version": event.version}
        case Text(thinking=True):
            return None
        case Text():
            return ("agent.message", {"text": _clip(event.text)}) if event.text.strip() else None
        case ToolCall():
            return "agent.tool", {"tool": event.name, "input": _clip_json(event.input), "id": event.id}
        case ToolResult():
            return "agent.output", {
                "stream": "tool",
                "text": _clip(event.output),
                "id": event.id,
                "is_error": event.is_error,
            }
        case Retry():
            retry: dict[str, Any] = {"attempt": event.attempt, "max_retries": event.max_retries}
            return "agent.retry", {**retry, "status": event.status, "delay_ms": event.delay_ms, "error": event.error}
        case Notice():
            return "agent.notice", {"text": _clip(event.message)}
        case Usage():
            return None  # summed into the result
        case Result():
            return None  # the engine records the run's result
        case Unknown():
            return "agent.unknown", {"type": _str(event.raw.get("type")), "raw": _clip_json(dict(event.raw))}
    return None
