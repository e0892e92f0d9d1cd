"""One contract for every rate-limit store: in memory, SQLite, PostgreSQL and Redis.

Each test gets its own store (a fresh database, or a unique Redis key prefix) and makes several
limiters over it, as several workers would, each with its own connections. The clock is a test clock,
so the waits the stores name can be checked exactly against the pure arithmetic of ``ratelimit.py``.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from quarterdeck.llm import limiters
from quarterdeck.llm.provider import ProviderError
from quarterdeck.llm.ratelimit import BucketState, Limiter, Limits, MemoryLimiter, give_back, take
from quarterdeck.llm.redis_limiter import RedisLimiter
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.llm.shared_limiter import DatabaseLimiter
from quarterdeck.store.database import Database
from tests.support.databases import PostgresTemplate

REDIS_URL = "redis://127.0.0.1:6379/0"
BUCKET = "anthropic|default|0123456789ab"


class Clock:
    """Wall time that moves only when told to (or when a limiter sleeps)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


Workers = Callable[[int], list[Limiter]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The backend and its address: a fresh database's URL, or a unique Redis key prefix."""
    backend: str = request.param
    if backend == "postgresql":
        template: PostgresTemplate = request.getfixturevalue("pg_template")
        name = template.clone()
        yield backend, template.url(name)
        template.drop(name)
    elif backend == "sqlite":
        yield backend, f"sqlite:///{tmp_path / 'limits.db'}"
    else:
        yield backend, f"qd-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def workers(store: tuple[str, str], clock: Clock) -> AsyncIterator[Workers]:
    """``workers(n)``: n limiters over one fresh store, each with its own connections (memory: one process)."""
    made: list[DatabaseLimiter | RedisLimiter] = []
    backend, address = store
    url = address if backend in ("sqlite", "postgresql") else ""
    prefix = address if backend == "redis" else ""
    if url:
        migrated = Database(url)
        await migrated.upgrade()
        await migrated.dispose()
    memory = MemoryLimiter(clock=clock, sleep=clock.sleep)

    def make(n: int) -> list[Limiter]:
        if backend == "memory":
            return [memory] * n
        batch: list[DatabaseLimiter | RedisLimiter] = []
        for _ in range(n):
            if backend == "redis":
                client = aioredis.Redis.from_url(REDIS_URL)
                batch.append(RedisLimiter(client, prefix=prefix, clock=clock, sleep=clock.sleep, owns_client=True))
            else:
                batch.append(DatabaseLimiter(Database(url, pool_size=5), clock=clock, sleep=clock.sleep, owns_db=True))
        made.extend(batch)
        return list(batch)

    yield make
    for limiter in made:
        await limiter.__aexit__(None, None, None)
    if backend == "redis":
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _concurrently(limiters_: list[Limiter], takers: int, limits: Limits, tokens: int) -> list[float]:
    """``takers`` simultaneous takes spread over the limiters; the waits they were told."""
    return list(
        await asyncio.gather(
            *(limiters_[i % len(limiters_)].try_acquire(BUCKET, limits, tokens) for i in range(takers))
        )
    )


async def test_twenty_concurrent_takers_never_exceed_the_requests_bucket(workers: Workers, clock: Clock) -> None:
    limits = Limits(requests_per_minute=5)
    waits = await _concurrently(workers(4), 20, limits, 10)
    assert waits.count(0) == 5
    # the bucket is empty: each refused taker waits for one request to refill, 60/5 seconds
    assert sorted(waits)[5:] == [pytest.approx(12.0)] * 15
    clock.now += 12.0
    waits = await _concurrently(workers(4), 20, limits, 10)
    assert waits.count(0) == 1
    assert sorted(waits)[1:] == [pytest.approx(12.0)] * 19


async def test_twenty_concurrent_takers_never_exceed_the_tokens_bucket(workers: Workers, clock: Clock) -> None:
    limits = Limits(requests_per_minute=1000, tokens_per_minute=1000)
    pool = workers(5)
    waits = await _concurrently(pool, 20, limits, 300)
    assert waits.count(0) == 3  # 3 × 300 of 1000 tokens; 100 left
    assert sorted(waits)[3:] == [pytest.approx(12.0)] * 17  # 200 tokens short at 1000/min
    # a call that was estimated at 300 tokens used 100: 200 go back, and one more taker fits
    await pool[0].settle(BUCKET, limits, 200)
    waits = await _concurrently(pool, 20, limits, 300)
    assert waits.count(0) == 1


async def test_acquire_waits_exactly_as_long_as_the_bucket_needs(workers: Workers, clock: Clock) -> None:
    limiter = workers(1)[0]
    limits = Limits(requests_per_minute=2, tokens_per_minute=600)
    assert await limiter.acquire(BUCKET, limits, 100) == 0
    assert await limiter.acquire(BUCKET, limits, 100) == 0
    assert await limiter.acquire(BUCKET, limits, 100) == pytest.approx(30.0)  # one request refills in 30 s
    assert clock.slept == [pytest.approx(30.0)]
    # 600 - 200 + 30 s × 10/s is capped at 600, minus 100: 500 left; 550 more needs 5 s
    assert await limiter.acquire(BUCKET, limits, 550) == pytest.approx(30.0)
    assert clock.slept[1:] == [pytest.approx(30.0)]  # the request bucket was the longer wait


async def test_a_store_follows_the_pure_arithmetic_step_by_step(workers: Workers, clock: Clock) -> None:
    limiter = workers(1)[0]
    limits = Limits(requests_per_minute=3, tokens_per_minute=900)
    state: BucketState | None = None
    steps = [(0.0, 400), (0.5, 400), (1.0, 400), (7.0, -150), (20.0, 300), (0.0, 900), (61.0, 2000)]
    for advance, tokens in steps:
        clock.now += advance
        if tokens < 0:
            await limiter.settle(BUCKET, limits, -tokens)
            state = give_back(state, limits, clock.now, -tokens)
            continue
        state, expected = take(state, limits, clock.now, tokens)
        assert await limiter.try_acquire(BUCKET, limits, tokens) == pytest.approx(expected, abs=1e-9)


async def test_buckets_are_independent(workers: Workers) -> None:
    first, second = workers(2)
    limits = Limits(requests_per_minute=1)
    assert await first.try_acquire(BUCKET, limits, 1) == 0
    assert await second.try_acquire(BUCKET, limits, 1) == pytest.approx(60.0)
    assert await second.try_acquire("openai-chat|http://127.0.0.1:1/v1|ffffffffffff", limits, 1) == 0


async def test_redis_buckets_expire_once_they_would_be_full_again(clock: Clock) -> None:
    prefix = f"qd-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with RedisLimiter(client, prefix=prefix, clock=clock) as limiter:
            await limiter.try_acquire(BUCKET, Limits(requests_per_minute=10), 1)
            assert await client.hget(prefix + BUCKET, "requests") == b"9"
            ttl = await client.pttl(prefix + BUCKET)
            assert 60_000 < ttl <= 120_000
    finally:
        await client.delete(prefix + BUCKET)
        await client.aclose()


async def test_an_unreachable_redis_fails_the_call_instead_of_letting_it_through() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with RedisLimiter.for_url(f"redis://127.0.0.1:{port}/0") as limiter:
        with pytest.raises(ProviderError) as caught:
            await limiter.acquire(BUCKET, Limits(requests_per_minute=10), 1)
    assert caught.value.kind == "unreachable"
    assert caught.value.retryable
    assert "rate-limit store (Redis)" in caught.value.message


async def test_the_settings_choose_redis_then_the_database_then_memory(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'q.db'}"
    async with limiters.open_limiter(LlmSettings(redis_url=REDIS_URL, database_url=database)) as chosen:
        assert isinstance(chosen, RedisLimiter)
    async with limiters.open_limiter(LlmSettings(redis_url=None, database_url=database)) as chosen:
        assert isinstance(chosen, DatabaseLimiter)
    async with limiters.open_limiter(LlmSettings(redis_url=None, database_url=None)) as chosen:
        assert isinstance(chosen, MemoryLimiter)
