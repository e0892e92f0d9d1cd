"""Rate limits for login and API-key attempts: in-process by default, shared through Redis when configured."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Protocol

__all__ = ["MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "open_rate_limiter"]


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_s: float) -> float | None:
        """Count one attempt under ``key``; the seconds to wait when over ``limit`` in ``window_s``, else None."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """A sliding window per key, in this process (enough for one API process)."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, limit: int, window_s: float) -> float | None:
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) >= limit:
            return hits[0] + window_s - now
        hits.append(now)
        if len(self._hits) > self._max_keys:
            self._prune(now, window_s)
        return None

    def _prune(self, now: float, window_s: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - window_s]:
            del self._hits[key]

    async def close(self) -> None:
        self._hits.clear()


class RedisRateLimiter:
    """A fixed window per key in Redis, shared by every API process."""

    def __init__(self, url: str, *, prefix: str = "quarterdeck:ratelimit:") -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str, *, limit: int, window_s: float) -> float | None:
        now = time.time()
        window = math.floor(now / window_s)
        name = f"{self._prefix}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, math.ceil(window_s) + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            return (window + 1) * window_s - now
        return None

    async def close(self) -> None:
        await self._redis.aclose()


def open_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
