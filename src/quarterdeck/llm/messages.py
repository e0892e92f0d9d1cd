"""The neutral conversation every provider speaks: requests, responses, content blocks and usage."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Block",
    "Message",
    "Request",
    "Response",
    "TextBlock",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "Usage",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextBlock(_Frozen):
    """Text from the user or the model."""

    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(_Frozen):
    """The model calls a tool; ``arguments`` is the raw JSON text when the model sent something unparsable."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    arguments: dict[str, Any] | str


class ToolResultBlock(_Frozen):
    """What a tool answered, sent back in the next user turn."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False


Block = Annotated[TextBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")]


class Message(_Frozen):
    """One turn of the conversation."""

    role: Literal["user", "assistant"]
    content: tuple[Block, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", content=(TextBlock(text=text),))

    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


class ToolSpec(_Frozen):
    """A tool the model may call: its name, what it does, and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


class Request(_Frozen):
    """One model call, provider-neutral."""

    model: str
    system: str = ""
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 4096

    def fingerprint(self) -> str:
        """A stable digest of the request, to find it in a cassette."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """A short human description: the model and the start of the last message."""
        last = self.messages[-1] if self.messages else None
        what = ""
        if last is not None:
            first = last.content[0] if last.content else None
            if isinstance(first, TextBlock):
                what = first.text
            elif isinstance(first, ToolResultBlock):
                what = f"tool result for {first.tool_use_id}: {first.content}"
        what = " ".join(what.split())[:80]
        return f"{self.model} after {len(self.messages)} message(s), last: {what!r}"


class Usage(_Frozen):
    """Tokens of one call; ``input`` excludes cached reads and cache writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


class Response(_Frozen):
    """What the model answered: content, why it stopped, usage, and who answered."""

    content: tuple[Block, ...]
    stop_reason: str = ""
    usage: Usage = Field(default_factory=Usage)
    #: the model as the provider reported it
    model: str = ""
    request_id: str | None = None

    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    def message(self) -> Message:
        return Message(role="assistant", content=self.content)
