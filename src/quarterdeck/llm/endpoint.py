"""One entry of a route: which provider, which model, where, with which keys, limits and price."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.llm.pricing import Price

__all__ = ["Endpoint", "ProviderName"]

ProviderName = Literal["anthropic", "openai-chat", "openai-responses"]

_DEFAULT_KEY = {"anthropic": "ANTHROPIC_API_KEY", "openai-chat": "OPENAI_API_KEY", "openai-responses": "OPENAI_API_KEY"}


class Endpoint(BaseModel):
    """A model at a provider; ``api_key_env`` names the variables holding its keys, rotated in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName = "anthropic"
    model: str
    #: an OpenAI-compatible server (Ollama, vLLM, llama.cpp: ``http://host:port/v1``) or a proxy
    base_url: str | None = None
    #: environment variables holding API keys; default ``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY``
    api_key_env: tuple[str, ...] = ()
    #: the model's price when the price table does not list it (or to replace it)
    price: Price | None = None
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    def key_names(self) -> tuple[str, ...]:
        return self.api_key_env or (_DEFAULT_KEY[self.provider],)

    def keys(self, environ: Mapping[str, str]) -> list[str | None]:
        """The API keys found, in rotation order; ``[None]`` when none is set (local servers need none)."""
        found: list[str | None] = [environ[name] for name in self.key_names() if environ.get(name)]
        return found or [None]

    def bucket(self, key: str | None) -> str:
        """The rate-limit bucket of one key here: provider, server and a digest of the key (never the key)."""
        digest = hashlib.sha256((key or "").encode()).hexdigest()[:12]
        return f"{self.provider}|{self.base_url or 'default'}|{digest}"
