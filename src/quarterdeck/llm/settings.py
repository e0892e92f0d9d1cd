"""The LLM layer's own settings (``QUARTERDECK_LLM_*``), read once per runtime and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from quarterdeck.llm.pricing import Price

__all__ = ["LlmSettings"]


class LlmSettings(BaseSettings):
    """Retries, rate-limit storage, price overrides and record/replay for every api-agent call."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_LLM_", extra="ignore", frozen=True, populate_by_name=True)

    #: where rate-limit buckets are shared by all workers; default: Quarterdeck's own database
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("QUARTERDECK_LLM_DATABASE_URL", "QUARTERDECK_DATABASE_URL")
    )
    #: share the buckets through Redis instead (one atomic script per take); wins over ``database_url``
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("QUARTERDECK_LLM_REDIS_URL", "QUARTERDECK_REDIS_URL")
    )
    #: tries per model before falling back to the next one (the first try included)
    max_attempts: int = Field(default=3, ge=1)
    #: the first backoff when the provider gives no Retry-After; doubled each time, up to ``backoff_max_s``
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    #: prices that replace or extend the built-in table, per model (JSON in the environment)
    prices: dict[str, Price] = Field(default_factory=dict)
    #: record every model exchange into this cassette file (JSON lines)
    record: Path | None = None
    #: play model exchanges back from this cassette instead of calling any provider
    replay: Path | None = None
