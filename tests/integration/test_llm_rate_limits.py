"""Rate-limit buckets shared through the database, on both backends."""

from __future__ import annotations

import asyncio

import pytest

from quarterdeck.llm.ratelimit import Limits
from quarterdeck.llm.shared_limiter import DatabaseLimiter
from quarterdeck.store.database import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_two_workers_draw_from_one_bucket(db: Database) -> None:
    clock = Clock()
    workers = [
        DatabaseLimiter(Database(db.url, pool_size=2), clock=clock, sleep=clock.sleep, owns_db=True) for _ in "ab"
    ]
    limits = Limits(requests_per_minute=3)
    try:
        waits = await asyncio.gather(*(w.acquire("anthropic|default|k1", limits, 10) for w in workers * 2))
        assert sorted(waits) == [0, 0, 0, pytest.approx(20.0)]  # the fourth waits for one request to refill
        assert await workers[0].acquire("anthropic|default|k2", limits, 10) == 0  # another key, another bucket
    finally:
        for worker in workers:
            await worker.db.dispose()
