"""The Anthropic Messages API (``POST /v1/messages``), streamed as SSE exactly as the real API does."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from tests.support.llm_servers.script import Fault, Hang, Reply, Text, ToolCall
from tests.support.llm_servers.server import ProviderHandler, ScriptedServer, SseWriter

__all__ = ["AnthropicServer", "working_directory"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_CWD = re.compile(r"Primary working directory: ([^\s\"]+)")


def working_directory(body: Mapping[str, Any]) -> str | None:
    """The agent's working directory, as Claude Code states it (in a system reminder of the first message)."""
    match = _CWD.search(json.dumps([body.get("system"), body.get("messages")]).replace("\\n", "\n"))
    return None if match is None else match.group(1)


class AnthropicServer(ScriptedServer):
    """``POST /v1/messages`` (``?beta=true`` too): streaming SSE or a whole JSON message."""

    routes: ClassVar[dict[str, str]] = {"/v1/messages": "messages"}

    def render(self, handler: ProviderHandler, route: str, body: Any, answer: Reply | Fault | Hang) -> None:
        request_id = self.new_id("req")
        if isinstance(answer, Fault):
            headers = {"request-id": request_id}
            if answer.retry_after is not None:
                headers["retry-after"] = f"{answer.retry_after:g}"
            if answer.status == 529:
                headers["x-should-retry"] = "true"
            error = {"type": _ERROR_TYPES.get(answer.status, "api_error"), "message": answer.message}
            handler.send_json(answer.status, {"type": "error", "error": error, "request_id": request_id}, headers)
            return
        model = self.model or str(body.get("model") or "claude-sonnet-4-5")
        message_id = self.new_id("msg")
        if not body.get("stream"):
            assert isinstance(answer, Reply), "a Hang needs a streaming request"
            handler.send_json(200, self._whole(message_id, model, answer), {"request-id": request_id})
            return
        sse = handler.start_sse({"request-id": request_id})
        reply = answer if isinstance(answer, Reply) else Reply(())
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
        }
        start: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
        }
        start |= {"stop_reason": None, "stop_sequence": None, "usage": usage}
        sse.send("message_start", {"type": "message_start", "message": start})
        if isinstance(answer, Hang):
            self.hold(answer, lambda: sse.send("ping", {"type": "ping"}))
            return
        sse.send("ping", {"type": "ping"})
        for index, block in enumerate(reply.blocks):
            self._block(sse, index, block)
        for name, data in reply.extra_events:
            sse.send(name, data)
        stop = "tool_use" if any(isinstance(b, ToolCall) for b in reply.blocks) else "end_turn"
        delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
        delta["usage"] = {"output_tokens": reply.output_tokens}
        sse.send("message_delta", delta)
        sse.send("message_stop", {"type": "message_stop"})

    def _block(self, sse: SseWriter, index: int, block: Text | ToolCall) -> None:
        if isinstance(block, Text):
            sse.send(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
            for piece in _pieces(block.text):
                delta = {"type": "text_delta", "text": piece}
                sse.send("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        else:
            tool = {"type": "tool_use", "id": self.new_id("toolu"), "name": block.name, "input": {}}
            sse.send("content_block_start", {"type": "content_block_start", "index": index, "content_block": tool})
            for piece in _pieces(json.dumps(block.input)):
                delta = {"type": "input_json_delta", "partial_json": piece}
                sse.send("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        sse.send("content_block_stop", {"type": "content_block_stop", "index": index})

    def _whole(self, message_id: str, model: str, reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in reply.blocks:
            if isinstance(block, Text):
                content.append({"type": "text", "text": block.text})
            else:
                content.append(
                    {
                        "type": "tool_use",
                        "id": self.new_id("toolu"),
                        "name": block.name,
                        "input": dict(block.input) if isinstance(block.input, Mapping) else block.input,
                    }
                )
        stop = "tool_use" if any(isinstance(b, ToolCall) for b in reply.blocks) else "end_turn"
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
        }
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }


def _pieces(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
