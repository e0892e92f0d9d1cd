"""The OpenAI Responses API (``POST /v1/responses``), streamed as SSE the way Codex expects it."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from tests.support.llm_servers.script import Fault, Hang, Reply, Text, ToolCall
from tests.support.llm_servers.server import ProviderHandler, ScriptedServer

__all__ = ["OpenAIResponsesServer", "apply_patch_add", "function_outputs"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_api_key", 429: "rate_limit_exceeded", 500: "server_error"}


def apply_patch_add(path: str, content: str) -> str:
    """An ``apply_patch`` input that adds a file."""
    body = "".join(f"+{line}\n" for line in content.splitlines())
    return f"*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch"


def function_outputs(body: Any) -> list[str]:
    """The tool outputs the client sent back in a request's ``input``."""
    items = body.get("input") if isinstance(body, dict) else None
    return [
        str(item.get("output"))
        for item in items or []
        if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output")
    ]


class OpenAIResponsesServer(ScriptedServer):
    """``POST /v1/responses``: streaming SSE (``stream: true``) or a whole response object."""

    routes: ClassVar[dict[str, str]] = {"/v1/responses": "responses"}

    def render(self, handler: ProviderHandler, route: str, body: Any, answer: Reply | Fault | Hang) -> None:
        if isinstance(answer, Fault):
            headers = {"x-request-id": self.new_id("req")}
            if answer.retry_after is not None:
                headers["retry-after"] = f"{answer.retry_after:g}"
            error = {"message": answer.message, "type": _ERROR_TYPES.get(answer.status, "server_error"), "code": None}
            handler.send_json(answer.status, {"error": error}, headers)
            return
        model = self.model or str(body.get("model") or "gpt-5")
        response_id = self.new_id("resp")
        reply = answer if isinstance(answer, Reply) else Reply(())
        items = [self._item(block) for block in reply.blocks]
        usage = {
            "input_tokens": reply.input_tokens,
            "input_tokens_details": {"cached_tokens": reply.cached_tokens},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        response = {"id": response_id, "object": "response", "created_at": int(time.time()), "model": model}
        if not body.get("stream"):
            handler.send_json(200, response | {"status": "completed", "output": items, "usage": usage})
            return
        sse = handler.start_sse()
        seq = iter(range(1_000_000))

        def send(kind: str, **data: Any) -> bool:
            return sse.send(kind, {"type": kind, "sequence_number": next(seq), **data})

        send("response.created", response=response | {"status": "in_progress", "output": []})
        send("response.in_progress", response=response | {"status": "in_progress", "output": []})
        if isinstance(answer, Hang):
            self.hold(answer, lambda: True)
            return
        for index, item in enumerate(items):
            self._stream_item(send, index, item)
        for name, data in reply.extra_events:
            sse.send(name, data)
        send("response.completed", response=response | {"status": "completed", "output": items, "usage": usage})

    def _item(self, block: Text | ToolCall) -> dict[str, Any]:
        if isinstance(block, Text):
            content = [{"type": "output_text", "text": block.text, "annotations": []}]
            return {
                "id": self.new_id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": content,
            }
        if isinstance(block.input, str):
            return {
                "id": self.new_id("ctc"),
                "type": "custom_tool_call",
                "status": "completed",
                "call_id": self.new_id("call"),
                "name": block.name,
                "input": block.input,
            }
        return {
            "id": self.new_id("fc"),
            "type": "function_call",
            "status": "completed",
            "call_id": self.new_id("call"),
            "name": block.name,
            "arguments": json.dumps(block.input),
        }

    def _stream_item(self, send: Any, index: int, item: dict[str, Any]) -> None:
        kind = item["type"]
        where = {"item_id": item["id"], "output_index": index}
        if kind == "message":
            send("response.output_item.added", output_index=index, item=item | {"status": "in_progress", "content": []})
            part = {"type": "output_text", "text": "", "annotations": []}
            send("response.content_part.added", **where, content_index=0, part=part)
            text = item["content"][0]["text"]
            send("response.output_text.delta", **where, content_index=0, delta=text)
            send("response.output_text.done", **where, content_index=0, text=text)
            send("response.content_part.done", **where, content_index=0, part=item["content"][0])
        elif kind == "function_call":
            send(
                "response.output_item.added", output_index=index, item=item | {"status": "in_progress", "arguments": ""}
            )
            send("response.function_call_arguments.delta", **where, delta=item["arguments"])
            send("response.function_call_arguments.done", **where, arguments=item["arguments"])
        else:
            send("response.output_item.added", output_index=index, item=item | {"status": "in_progress", "input": ""})
            send("response.custom_tool_call_input.delta", **where, delta=item["input"])
            send("response.custom_tool_call_input.done", **where, input=item["input"])
        send("response.output_item.done", output_index=index, item=item)
