"""Anthropic's Messages API through the official ``anthropic`` SDK, streamed."""

from __future__ import annotations

from typing import Any

import anthropic

from quarterdeck.llm.messages import Block, Request, Response, TextBlock, ToolUseBlock, Usage
from quarterdeck.llm.provider import map_sdk_errors

__all__ = ["AnthropicMessages"]


def _block(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUseBlock):
        arguments = block.arguments if isinstance(block.arguments, dict) else {}
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": arguments}
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": block.content,
        "is_error": block.is_error,
    }


def params(request: Request) -> dict[str, Any]:
    """The Messages API parameters for a neutral request."""
    out: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": [_block(b) for b in m.content]} for m in request.messages],
    }
    if request.system:
        out["system"] = request.system
    if request.tools:
        out["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools
        ]
    return out


class AnthropicMessages:
    """``POST /v1/messages`` with ``stream: true``; ``base_url`` for a proxy or a compatible server."""

    name = "anthropic"

    def __init__(self, *, base_url: str | None = None, timeout_s: float = 120.0) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    async def complete(self, request: Request, *, api_key: str | None) -> Response:
        client = anthropic.AsyncAnthropic(
            api_key=api_key or "none", base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )
        try:
            with map_sdk_errors(self.name, anthropic):
                async with client.messages.stream(**params(request)) as stream:
                    message = await stream.get_final_message()
                    request_id = stream.request_id
        finally:
            await client.close()
        content: list[Block] = []
        for part in message.content:
            if part.type == "text":
                content.append(TextBlock(text=part.text))
            elif part.type == "tool_use":
                arguments = part.input if isinstance(part.input, dict) else str(part.input)
                content.append(ToolUseBlock(id=part.id, name=part.name, arguments=arguments))
        usage = message.usage
        return Response(
            content=tuple(content),
            stop_reason=str(message.stop_reason or ""),
            usage=Usage(
                input=usage.input_tokens,
                output=usage.output_tokens,
                cache_read=usage.cache_read_input_tokens or 0,
                cache_write=usage.cache_creation_input_tokens or 0,
            ),
            model=message.model,
            request_id=request_id,
        )
