"""OpenAI Chat Completions (``POST /v1/chat/completions``), streamed as ``data:`` chunks ending in ``[DONE]``."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from tests.support.llm_servers.script import Fault, Hang, Reply, Text, ToolCall
from tests.support.llm_servers.server import ProviderHandler, ScriptedServer

__all__ = ["OpenAIChatServer", "chat_tool_results"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}


def chat_tool_results(body: Any) -> list[str]:
    """The tool messages a chat request sends back."""
    return [str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"]


class OpenAIChatServer(ScriptedServer):
    """``POST /v1/chat/completions``: streaming chunks (``stream: true``) or a whole completion.

    A ``ToolCall`` whose input is a string is sent as those raw ``arguments`` (malformed JSON on purpose).
    """

    routes: ClassVar[dict[str, str]] = {"/v1/chat/completions": "chat"}

    def render(self, handler: ProviderHandler, route: str, body: Any, answer: Reply | Fault | Hang) -> None:
        if isinstance(answer, Fault):
            headers = {"x-request-id": self.new_id("req")}
            if answer.retry_after is not None:
                headers["retry-after"] = f"{answer.retry_after:g}"
            code = "invalid_api_key" if answer.status == 401 else None
            error = {"message": answer.message, "type": _ERROR_TYPES.get(answer.status, "server_error"), "code": code}
            handler.send_json(answer.status, {"error": error}, headers)
            return
        assert isinstance(answer, Reply), "the chat server does not hang"
        model = self.model or str(body.get("model") or "gpt-4o")
        base = {"id": self.new_id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time())}
        base["model"] = model
        text = "".join(b.text for b in answer.blocks if isinstance(b, Text))
        calls = [b for b in answer.blocks if isinstance(b, ToolCall)]
        finish = "tool_calls" if calls else "stop"
        usage = {
            "prompt_tokens": answer.input_tokens + answer.cached_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.cached_tokens + answer.output_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
        }
        tool_calls: list[dict[str, Any]] = [
            {
                "index": i,
                "id": self.new_id("call"),
                "type": "function",
                "function": {"name": c.name, "arguments": c.input if isinstance(c.input, str) else json.dumps(c.input)},
            }
            for i, c in enumerate(calls)
        ]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_calls:
                message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in tool_calls]
            choice = {"index": 0, "message": message, "finish_reason": finish}
            handler.send_json(200, base | {"object": "chat.completion", "choices": [choice], "usage": usage})
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("x-request-id", self.new_id("req"))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> None:
            choices = [{"index": 0, "delta": delta, "finish_reason": finish_reason}] if delta is not None else []
            data = base | {"choices": choices, **extra}
            handler.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            handler.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        for start in range(0, len(text), 16):
            chunk({"content": text[start : start + 16]})
        for call in tool_calls:
            arguments = call["function"]["arguments"]
            head = call | {"function": {"name": call["function"]["name"], "arguments": ""}}
            chunk({"tool_calls": [head]})
            for start in range(0, len(arguments), 16):
                piece = {"index": call["index"], "function": {"arguments": arguments[start : start + 16]}}
                chunk({"tool_calls": [piece]})
        chunk({}, finish)
        handler.wfile.write(f"data: {json.dumps(base | {'choices': [], 'usage': usage})}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
