"""The chooser: where this process's rate-limit buckets live, from the settings."""

from __future__ import annotations

import contextlib

from quarterdeck.llm.ratelimit import Limiter, MemoryLimiter
from quarterdeck.llm.redis_limiter import RedisLimiter
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.llm.shared_limiter import DatabaseLimiter

__all__ = ["open_limiter"]

#: the buckets of a process without a shared store, kept from run to run
_memory = MemoryLimiter()


def open_limiter(settings: LlmSettings) -> contextlib.AbstractAsyncContextManager[Limiter]:
    """Redis when ``redis_url`` is set, else the database at ``database_url``, else this process's memory."""
    if settings.redis_url:
        return RedisLimiter.for_url(settings.redis_url)
    if settings.database_url:
        return DatabaseLimiter.for_url(settings.database_url)
    return contextlib.nullcontext(_memory)
