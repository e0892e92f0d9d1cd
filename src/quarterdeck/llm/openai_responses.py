"""The OpenAI Responses API through the official ``openai`` SDK, streamed."""

from __future__ import annotations

import json
from typing import Any

import openai

from quarterdeck.llm.messages import Block, Request, Response, TextBlock, ToolResultBlock, ToolUseBlock, Usage
from quarterdeck.llm.openai_chat import parse_arguments
from quarterdeck.llm.provider import ProviderError, map_sdk_errors

__all__ = ["OpenAIResponses"]


def _input(request: Request) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in request.messages:
        for block in message.content:
            if isinstance(block, TextBlock):
                items.append({"role": message.role, "content": block.text})
            elif isinstance(block, ToolUseBlock):
                arguments = block.arguments if isinstance(block.arguments, str) else json.dumps(block.arguments)
                items.append({"type": "function_call", "call_id": block.id, "name": block.name, "arguments": arguments})
            elif isinstance(block, ToolResultBlock):
                items.append({"type": "function_call_output", "call_id": block.tool_use_id, "output": block.content})
    return items


def params(request: Request) -> dict[str, Any]:
    """The Responses API parameters for a neutral request."""
    out: dict[str, Any] = {
        "model": request.model,
        "input": _input(request),
        "max_output_tokens": request.max_tokens,
        "stream": True,
        "store": False,
    }
    if request.system:
        out["instructions"] = request.system
    if request.tools:
        out["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": False,
            }
            for t in request.tools
        ]
    return out


class OpenAIResponses:
    """``POST /responses`` with ``stream: true``; the completed response carries the output and usage."""

    name = "openai-responses"

    def __init__(self, *, base_url: str | None = None, timeout_s: float = 120.0) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    async def complete(self, request: Request, *, api_key: str | None) -> Response:
        client = openai.AsyncOpenAI(
            api_key=api_key or "none", base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )
        final: Any = None
        request_id: str | None = None
        try:
            with map_sdk_errors(self.name, openai):
                stream = await client.responses.create(**params(request))
                request_id = stream.response.headers.get("x-request-id")
                async for event in stream:
                    if event.type in ("response.completed", "response.incomplete", "response.failed"):
                        final = event.response
        finally:
            await client.close()
        if final is None:
            raise ProviderError(f"{self.name}: the stream ended without a completed response", kind="server")
        if final.status == "failed":
            error = final.error.message if final.error is not None else "no reason given"
            raise ProviderError(f"{self.name}: the response failed: {error}", kind="server", request_id=request_id)
        content: list[Block] = []
        for item in final.output:
            if item.type == "message":
                text = "".join(getattr(part, "text", "") for part in item.content)
                if text:
                    content.append(TextBlock(text=text))
            elif item.type == "function_call":
                content.append(ToolUseBlock(id=item.call_id, name=item.name, arguments=parse_arguments(item.arguments)))
            elif item.type == "custom_tool_call":
                content.append(ToolUseBlock(id=item.call_id, name=item.name, arguments=item.input))
        usage = Usage()
        if final.usage is not None:
            cached = final.usage.input_tokens_details.cached_tokens or 0
            usage = Usage(
                input=final.usage.input_tokens - cached,
                output=final.usage.output_tokens,
                cache_read=cached,
                reasoning=final.usage.output_tokens_details.reasoning_tokens or 0,
            )
        stop = "tool_use" if any(isinstance(b, ToolUseBlock) for b in content) else str(final.status or "")
        return Response(
            content=tuple(content),
            stop_reason=stop,
            usage=usage,
            model=final.model or request.model,
            request_id=request_id,
        )
