"""The chooser: the provider adapter an endpoint names."""

from __future__ import annotations

from quarterdeck.llm.anthropic_messages import AnthropicMessages
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.openai_chat import OpenAIChat
from quarterdeck.llm.openai_responses import OpenAIResponses
from quarterdeck.llm.provider import Provider

__all__ = ["provider_for"]


def provider_for(endpoint: Endpoint) -> Provider:
    """A fresh adapter for ``endpoint``'s provider, pointed at its ``base_url``."""
    if endpoint.provider == "anthropic":
        return AnthropicMessages(base_url=endpoint.base_url, timeout_s=endpoint.timeout_s)
    if endpoint.provider == "openai-chat":
        return OpenAIChat(base_url=endpoint.base_url, timeout_s=endpoint.timeout_s)
    return OpenAIResponses(base_url=endpoint.base_url, timeout_s=endpoint.timeout_s)
