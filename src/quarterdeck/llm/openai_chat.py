"""OpenAI Chat Completions through the official ``openai`` SDK, streamed: OpenAI, Ollama, vLLM, llama.cpp."""

from __future__ import annotations

import json
from typing import Any

import openai

from quarterdeck.llm.messages import Block, Message, Request, Response, TextBlock, ToolResultBlock, ToolUseBlock, Usage
from quarterdeck.llm.provider import map_sdk_errors

__all__ = ["OpenAIChat", "parse_arguments"]


def parse_arguments(raw: str) -> dict[str, Any] | str:
    """Tool-call arguments as a dict, or the raw text when it is not a JSON object."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return raw
    return value if isinstance(value, dict) else raw


def _arguments(block: ToolUseBlock) -> str:
    return block.arguments if isinstance(block.arguments, str) else json.dumps(block.arguments)


def _messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "assistant":
            calls = [
                {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": _arguments(b)}}
                for b in message.content
                if isinstance(b, ToolUseBlock)
            ]
            entry: dict[str, Any] = {"role": "assistant", "content": message.text() or None}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
            continue
        for block in message.content:
            if isinstance(block, ToolResultBlock):
                out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": block.content})
        text = message.text()
        if text:
            out.append({"role": "user", "content": text})
    return out


def params(request: Request) -> dict[str, Any]:
    """The Chat Completions parameters for a neutral request."""
    out: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": _messages(request.system, request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        out["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
    return out


class OpenAIChat:
    """``POST /chat/completions`` with ``stream: true``; ``base_url`` points at any compatible server."""

    name = "openai-chat"

    def __init__(self, *, base_url: str | None = None, timeout_s: float = 120.0) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    async def complete(self, request: Request, *, api_key: str | None) -> Response:
        client = openai.AsyncOpenAI(
            api_key=api_key or "none", base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish = ""
        model = request.model
        usage = Usage()
        request_id: str | None = None
        try:
            with map_sdk_errors(self.name, openai):
                stream = await client.chat.completions.create(**params(request))
                request_id = stream.response.headers.get("x-request-id")
                async for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        details = chunk.usage.prompt_tokens_details
                        cached = (details.cached_tokens or 0) if details is not None else 0
                        usage = Usage(
                            input=chunk.usage.prompt_tokens - cached,
                            output=chunk.usage.completion_tokens,
                            cache_read=cached,
                        )
                    for choice in chunk.choices:
                        finish = choice.finish_reason or finish
                        if choice.delta.content:
                            text.append(choice.delta.content)
                        for call in choice.delta.tool_calls or ():
                            slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                            slot["id"] = call.id or slot["id"]
                            if call.function is not None:
                                slot["name"] += call.function.name or ""
                                slot["arguments"] += call.function.arguments or ""
        finally:
            await client.close()
        content: list[Block] = [TextBlock(text="".join(text))] if text else []
        for index in sorted(calls):
            slot = calls[index]
            content.append(
                ToolUseBlock(
                    id=slot["id"] or f"call_{index}", name=slot["name"], arguments=parse_arguments(slot["arguments"])
                )
            )
        return Response(content=tuple(content), stop_reason=finish, usage=usage, model=model, request_id=request_id)
