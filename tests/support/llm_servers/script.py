"""Scripted turns for the wire-format servers: what the fake model answers, request by request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fault", "Hang", "Reply", "Script", "Step", "Text", "ToolCall"]


@dataclass(frozen=True, slots=True)
class Text:
    """A text block (Anthropic) or an output_text message (OpenAI)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call. A ``str`` input becomes an OpenAI *custom* tool call (``apply_patch``); a dict, JSON arguments."""

    name: str
    input: Mapping[str, Any] | str


@dataclass(frozen=True, slots=True)
class Reply:
    """One model response, streamed; usage is what the provider reports for it."""

    blocks: tuple[Text | ToolCall, ...]
    input_tokens: int = 1000
    output_tokens: int = 100
    cached_tokens: int = 0
    #: extra SSE events (name, data) sent before the end, e.g. an event type no client knows
    extra_events: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls((Text(text),), **kw)

    @classmethod
    def tools(cls, *calls: ToolCall, say: str | None = None, **kw: Any) -> Reply:
        return cls(((Text(say),) if say else ()) + calls, **kw)


@dataclass(frozen=True, slots=True)
class Fault:
    """An HTTP error answer: 429/500/529 are transient, 400 permanent."""

    status: int
    message: str = "injected fault"
    retry_after: float | None = 0


@dataclass(frozen=True, slots=True)
class Hang:
    """Start the stream, then hold it open until the server stops or ``release`` is set."""

    release: threading.Event = field(default_factory=threading.Event)
    max_s: float = 120.0


#: a step is a fixed answer, or a function of the request body (e.g. to read the agent's working directory)
Step = Reply | Fault | Hang | Callable[[Mapping[str, Any]], "Reply | Fault | Hang"]


class Script:
    """Answers in order; after the last one, every request gets ``then`` (default: a final "done")."""

    def __init__(self, *steps: Step, then: Step | None = None) -> None:
        self._steps = list(steps)
        self._then: Step = then if then is not None else Reply.text("done")
        self._lock = threading.Lock()
        self.served = 0

    def next(self, body: Mapping[str, Any]) -> Reply | Fault | Hang:
        with self._lock:
            step = self._steps.pop(0) if self._steps else self._then
            self.served += 1
        return step(body) if callable(step) else step

    def extend(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._steps)
