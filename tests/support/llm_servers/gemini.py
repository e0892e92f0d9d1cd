"""The Gemini API (``generateContent`` and ``streamGenerateContent?alt=sse``), as Google's endpoint serves it.

The Gemini CLI reaches it through ``@google/genai`` with ``GOOGLE_GEMINI_BASE_URL``: ``POST
/v1beta/models/<model>:streamGenerateContent?alt=sse`` for turns, ``generateContent`` for side calls.
Each SSE event is ``data: <GenerateContentResponse>``; a function call is a ``functionCall`` part; errors
are ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from tests.support.llm_servers.script import Fault, Hang, Reply, Text, ToolCall
from tests.support.llm_servers.server import ProviderHandler, ScriptedServer

__all__ = ["GeminiServer", "function_responses", "gemini_working_directory"]

_WORKSPACE = re.compile(r"Workspace Directories:\*\*\n\s*- ([^\n\"]+)")

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip


def function_responses(body: Mapping[str, Any]) -> list[Any]:
    """The tool results the CLI sent back in a request (``functionResponse`` parts)."""
    return [
        part["functionResponse"].get("response")
        for content in body.get("contents") or []
        for part in content.get("parts") or []
        if isinstance(part, dict) and "functionResponse" in part
    ]


def gemini_working_directory(body: Mapping[str, Any]) -> str | None:
    """The directory the CLI runs in, as its session context states it (the first workspace directory)."""
    match = _WORKSPACE.search(json.dumps(body.get("contents")).replace("\\n", "\n"))
    return None if match is None else match.group(1)


class GeminiServer(ScriptedServer):
    """``POST /v1beta/models/<model>:(stream)GenerateContent``; other calls (``countTokens``) get a plain answer."""

    routes: ClassVar[dict[str, str]] = {"generate": "generate", "stream": "stream", "count": "count"}

    def route_of(self, path: str) -> str | None:
        if not path.startswith(("/v1beta/models/", "/v1/models/")):
            return None
        method = path.rpartition(":")[2]
        return {"streamGenerateContent": "stream", "generateContent": "generate", "countTokens": "count"}.get(method)

    def render(self, handler: ProviderHandler, route: str, body: Any, answer: Reply | Fault | Hang) -> None:
        if isinstance(answer, Fault):
            error = {"code": answer.status, "message": answer.message, "status": _STATUS.get(answer.status, "UNKNOWN")}
            headers = {} if answer.retry_after is None else {"retry-after": f"{answer.retry_after:g}"}
            handler.send_json(answer.status, {"error": error}, headers)
            return
        model = self.model or handler.path.split("/models/", 1)[1].partition(":")[0]
        reply = answer if isinstance(answer, Reply) else Reply(())
        usage = {
            "promptTokenCount": reply.input_tokens,
            "candidatesTokenCount": reply.output_tokens,
            "totalTokenCount": reply.input_tokens + reply.output_tokens,
            "cachedContentTokenCount": reply.cached_tokens,
        }
        parts = [self._part(block) for block in reply.blocks]
        final: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": self.new_id("resp"),
        }
        if route != "stream":
            handler.send_json(200, final)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

        def send(data: Mapping[str, Any]) -> bool:
            try:
                handler.wfile.write(f"data: {json.dumps(data)}\r\n\r\n".encode())
                handler.wfile.flush()
            except OSError:
                return False
            return True

        if isinstance(answer, Hang):
            first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Working"}]}, "index": 0}]}
            send(first | {"usageMetadata": usage | {"candidatesTokenCount": 1}, "modelVersion": model})
            self.hold(answer, lambda: True)
            return
        texts = [p for p in parts if "text" in p]
        for part in texts[:-1] or []:  # text arrives in chunks; the last chunk carries the calls and usage
            send({"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}], "modelVersion": model})
        last = [texts[-1]] if texts else []
        final["candidates"][0]["content"]["parts"] = last + [p for p in parts if "text" not in p]
        send(final)

    @staticmethod
    def _part(block: Text | ToolCall) -> dict[str, Any]:
        if isinstance(block, Text):
            return {"text": block.text}
        args = dict(block.input) if isinstance(block.input, Mapping) else {"input": block.input}
        return {"functionCall": {"name": block.name, "args": args}}
