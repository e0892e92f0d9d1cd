"""Token buckets kept in Redis: one atomic Lua script per take, shared by every worker on every machine.

The script is ``ratelimit.take`` and ``ratelimit.give_back`` in Lua, over a hash per bucket
(``requests``, ``tokens``, ``at``). Redis runs a script alone, so concurrent takers never both get the
last request, and a take is one round trip (``EVALSHA``). A bucket left alone refills completely within a
minute, so its key expires after two: an expired bucket and a full one are the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from quarterdeck.llm.provider import ProviderError
from quarterdeck.llm.ratelimit import Limits, wait_for

__all__ = ["DEFAULT_PREFIX", "RedisLimiter"]

DEFAULT_PREFIX = "quarterdeck:llm:bucket:"
_IDLE_MS = 120_000

# KEYS[1] the bucket; ARGV: requests/min (0: no limit), tokens/min (0: no limit), now (seconds since the
# epoch), tokens, "take" or "give", idle expiry in ms. Numbers go back as text: Redis truncates Lua numbers.
_SCRIPT = """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local saved = redis.call('HMGET', KEYS[1], 'requests', 'tokens', 'at')
local requests, level, at = rpm, tpm, now
if saved[1] then
  local elapsed = math.max(0, now - tonumber(saved[3]))
  requests = math.min(rpm, tonumber(saved[1]) + elapsed * rpm / 60)
  level = math.min(tpm, tonumber(saved[2]) + elapsed * tpm / 60)
  at = math.max(now, tonumber(saved[3]))
end
local wait = 0
if ARGV[5] == 'take' then
  if rpm > 0 and requests < 1 then
    wait = (1 - requests) * 60 / rpm
  end
  local need = 0
  if tpm > 0 then
    need = math.min(tokens, tpm)
    if level < need then
      wait = math.max(wait, (need - level) * 60 / tpm)
    end
  end
  if wait <= 0 then
    requests = requests - 1
    level = level - need
  end
else
  level = math.min(tpm, level + tokens)
end
redis.call('HSET', KEYS[1], 'requests', string.format('%.17g', requests),
  'tokens', string.format('%.17g', level), 'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return string.format('%.17g', wait)
"""


class RedisLimiter:
    """A limiter over Redis hashes named ``<prefix><bucket>``; same buckets, same arithmetic as the others."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._clock = clock
        self._sleep = sleep
        self._owns_client = owns_client
        self._script = client.register_script(_SCRIPT)

    @classmethod
    def for_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisLimiter:
        return cls(aioredis.Redis.from_url(url), prefix=prefix, owns_client=True)

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def _run(self, bucket: str, limits: Limits, tokens: int, mode: str) -> float:
        rpm, tpm = limits.requests_per_minute or 0, limits.tokens_per_minute or 0
        try:
            answer = await self._script(
                keys=[self.prefix + bucket], args=[rpm, tpm, repr(self._clock()), tokens, mode, _IDLE_MS]
            )
        except (redis_errors.RedisError, OSError) as exc:
            # Without its buckets the call must not go out unthrottled: fail it, retryably.
            raise ProviderError(f"the rate-limit store (Redis) failed: {exc}", kind="unreachable") from None
        return float(answer.decode() if isinstance(answer, bytes) else answer)

    async def try_acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        """One script run: take from the bucket if it holds enough; else the seconds until it will."""
        return await self._run(bucket, limits, tokens, "take")

    async def acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        """Wait until the bucket has a request and ``tokens`` to give; the seconds waited."""
        return await wait_for(self, self._sleep, bucket, limits, tokens)

    async def settle(self, bucket: str, limits: Limits, tokens: int) -> None:
        await self._run(bucket, limits, tokens, "give")
