"""Token buckets per provider key (requests and tokens per minute), in memory or shared through the database.

The arithmetic is pure (``take``, ``give_back``); a limiter only keeps the bucket states somewhere and
waits for the time ``take`` asks for. ``DatabaseLimiter`` keeps them in the ``llm_rate_limits`` table,
so every worker on every machine draws from the same buckets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["BucketState", "Limiter", "Limits", "MemoryLimiter", "give_back", "take", "wait_for"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one key may do per minute; None: no limit on that count."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def active(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None


@dataclass(frozen=True, slots=True)
class BucketState:
    """The levels of a key's two buckets at monotonic-free wall time ``at`` (seconds since the epoch)."""

    requests: float
    tokens: float
    at: float


def _refill(state: BucketState | None, limits: Limits, now: float) -> BucketState:
    rpm = float(limits.requests_per_minute or 0)
    tpm = float(limits.tokens_per_minute or 0)
    if state is None:
        return BucketState(rpm, tpm, now)
    elapsed = max(0.0, now - state.at)
    return BucketState(
        min(rpm, state.requests + elapsed * rpm / 60), min(tpm, state.tokens + elapsed * tpm / 60), max(now, state.at)
    )


def take(state: BucketState | None, limits: Limits, now: float, tokens: int) -> tuple[BucketState, float]:
    """Take one request and ``tokens`` from the buckets: the new state and 0, or the refilled state and the wait."""
    level = _refill(state, limits, now)
    waits = [0.0]
    if limits.requests_per_minute is not None and level.requests < 1:
        waits.append((1 - level.requests) * 60 / limits.requests_per_minute)
    need = 0.0
    if limits.tokens_per_minute is not None:
        need = float(min(tokens, limits.tokens_per_minute))  # a request bigger than the bucket waits for a full one
        if level.tokens < need:
            waits.append((need - level.tokens) * 60 / limits.tokens_per_minute)
    wait = max(waits)
    if wait > 0:
        return level, wait
    return BucketState(level.requests - 1, level.tokens - need, level.at), 0.0


def give_back(state: BucketState | None, limits: Limits, now: float, tokens: int) -> BucketState:
    """Correct the token bucket once the real usage is known (``tokens`` > 0 returns, < 0 takes more)."""
    level = _refill(state, limits, now)
    cap = float(limits.tokens_per_minute or 0)
    return BucketState(level.requests, min(cap, level.tokens + tokens), level.at)


class Limiter(Protocol):
    """Where buckets live: ``acquire`` waits until a call may go, ``settle`` corrects the token estimate."""

    async def try_acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        """Take one request and ``tokens`` if the buckets hold them: 0, else the seconds until they will."""
        ...

    async def acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        """Wait until the buckets give one request and ``tokens``; the seconds waited."""
        ...

    async def settle(self, bucket: str, limits: Limits, tokens: int) -> None:
        """Give ``tokens`` back to the token bucket (or take more when negative) once the real usage is known."""
        ...


Sleep = Callable[[float], Awaitable[None]]


async def wait_for(limiter: Limiter, sleep: Sleep, bucket: str, limits: Limits, tokens: int) -> float:
    """``try_acquire`` until it grants, sleeping the time each refusal names; the seconds waited."""
    waited = 0.0
    while (wait := await limiter.try_acquire(bucket, limits, tokens)) > 0:
        waited += wait
        await sleep(wait)
    return waited


class MemoryLimiter:
    """Buckets in this process only (one worker); ``acquire`` returns the seconds it waited."""

    def __init__(self, *, clock: Callable[[], float] = time.time, sleep: Sleep = asyncio.sleep) -> None:
        self._states: dict[str, BucketState] = {}
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def try_acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        async with self._lock:
            self._states[bucket], wait = take(self._states.get(bucket), limits, self._clock(), tokens)
        return wait

    async def acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        return await wait_for(self, self._sleep, bucket, limits, tokens)

    async def settle(self, bucket: str, limits: Limits, tokens: int) -> None:
        async with self._lock:
            self._states[bucket] = give_back(self._states.get(bucket), limits, self._clock(), tokens)
