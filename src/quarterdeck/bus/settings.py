"""The event bus's own settings (``QUARTERDECK_BUS_*``); the Redis URL itself is ``QUARTERDECK_REDIS_URL``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BusSettings"]


class BusSettings(BaseSettings):
    """Key names and length of the Redis stream, and how far a subscriber may fall behind."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_BUS_", extra="ignore", frozen=True)

    #: prefix of every Redis key the bus uses (several installations can share one Redis)
    prefix: str = Field(default="quarterdeck:", min_length=1)
    #: about how many event batches the Redis stream keeps (``XADD MAXLEN ~``); older ones are in the table
    stream_maxlen: int = Field(default=10_000, ge=100)
    #: deliveries a subscriber may have queued before it is marked as fallen behind (it then reads the table)
    max_pending: int = Field(default=1_000, ge=1)
