"""Local servers speaking the providers' wire formats, for the real agent CLIs and SDK clients in tests."""

from __future__ import annotations

from tests.support.llm_servers.anthropic import AnthropicServer, working_directory
from tests.support.llm_servers.script import Fault, Hang, Reply, Script, Text, ToolCall
from tests.support.llm_servers.server import RecordedRequest, ScriptedServer

__all__ = [
    "AnthropicServer",
    "Fault",
    "Hang",
    "RecordedRequest",
    "Reply",
    "Script",
    "ScriptedServer",
    "Text",
    "ToolCall",
    "working_directory",
]
