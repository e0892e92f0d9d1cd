"""Local servers speaking the providers' wire formats, for the real agent CLIs and SDK clients in tests."""

from __future__ import annotations

from tests.support.llm_servers.anthropic import AnthropicServer, working_directory
from tests.support.llm_servers.gemini import GeminiServer, function_responses, gemini_working_directory
from tests.support.llm_servers.openai import OpenAIResponsesServer, apply_patch_add, function_outputs
from tests.support.llm_servers.openai_chat import OpenAIChatServer, chat_tool_results
from tests.support.llm_servers.script import Fault, Hang, Reply, Script, Text, ToolCall
from tests.support.llm_servers.server import RecordedRequest, ScriptedServer

__all__ = [
    "AnthropicServer",
    "Fault",
    "GeminiServer",
    "Hang",
    "OpenAIChatServer",
    "OpenAIResponsesServer",
    "RecordedRequest",
    "Reply",
    "Script",
    "ScriptedServer",
    "Text",
    "ToolCall",
    "apply_patch_add",
    "chat_tool_results",
    "function_outputs",
    "function_responses",
    "gemini_working_directory",
    "working_directory",
]
