"""Token buckets kept in the database, so every worker process on every machine draws from the same ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

from quarterdeck.llm.ratelimit import BucketState, Limits, give_back, take, wait_for
from quarterdeck.store import ratelimits
from quarterdeck.store.database import Database

__all__ = ["DatabaseLimiter"]


class DatabaseLimiter:
    """A limiter over the ``llm_rate_limits`` table; each take is one short transaction."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        owns_db: bool = False,
    ) -> None:
        self.db = db
        self._clock = clock
        self._sleep = sleep
        self._owns_db = owns_db

    @classmethod
    def for_url(cls, url: str) -> DatabaseLimiter:
        return cls(Database(url, pool_size=2), owns_db=True)

    async def __aenter__(self) -> DatabaseLimiter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._owns_db:
            await self.db.dispose()

    async def try_acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        """One short transaction: take from the bucket's row if it holds enough; else the wait."""
        full = (float(limits.requests_per_minute or 0), float(limits.tokens_per_minute or 0))
        now = self._clock()
        async with self.db.transaction() as conn:
            requests, level, at = await ratelimits.claim_bucket(conn, self.db.dialect, bucket, full, now)
            state, wait = take(BucketState(requests, level, at), limits, now, tokens)
            await ratelimits.update_bucket(conn, bucket, state.requests, state.tokens, state.at)
        return wait

    async def acquire(self, bucket: str, limits: Limits, tokens: int) -> float:
        """Wait until the bucket has a request and ``tokens`` to give; the seconds waited."""
        return await wait_for(self, self._sleep, bucket, limits, tokens)

    async def settle(self, bucket: str, limits: Limits, tokens: int) -> None:
        full = (float(limits.requests_per_minute or 0), float(limits.tokens_per_minute or 0))
        now = self._clock()
        async with self.db.transaction() as conn:
            requests, level, at = await ratelimits.claim_bucket(conn, self.db.dialect, bucket, full, now)
            state = give_back(BucketState(requests, level, at), limits, now, tokens)
            await ratelimits.update_bucket(conn, bucket, state.requests, state.tokens, state.at)
