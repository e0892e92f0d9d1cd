"""The Redis publisher: XADDs written at commit, in order, resent after a broken connection (real Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from quarterdeck.bus import BusError
from quarterdeck.bus.appender import StreamAppender

REDIS_URL = "redis://127.0.0.1:6379/0"
FIELD = b"events"
DEADLINE_S = 10.0


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    key = f"qdtest:{secrets.token_hex(6)}:events"
    yield key
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.delete(key)
    finally:
        await client.aclose()


async def _entries(key: str) -> list[bytes]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(key)  # type: ignore[assignment]
        return [fields[FIELD] for _, fields in entries]
    finally:
        await client.aclose()


async def _kill(name: str) -> int:
    """Kill the connections named ``name``; returns how many."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        ids = [c["id"] for c in await client.client_list() if c.get("name") == name]
        for client_id in ids:
            await client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        await client.aclose()


async def test_batches_handed_over_without_waiting_arrive_in_order(stream: str) -> None:
    appender = StreamAppender(REDIS_URL, stream, field=FIELD, maxlen=100_000, max_queued=10_000)
    try:
        for n in range(2000):
            appender.send(b"batch %d" % n, None)
        last: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        appender.send(b"last", last)
        await asyncio.wait_for(last, DEADLINE_S)
    finally:
        await appender.close()
    assert await _entries(stream) == [b"batch %d" % n for n in range(2000)] + [b"last"]


async def test_a_broken_connection_loses_nothing_and_keeps_the_order(stream: str) -> None:
    appender = StreamAppender(REDIS_URL, stream, field=FIELD, maxlen=100_000, max_queued=10_000)
    try:
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        appender.send(b"0", first)
        await asyncio.wait_for(first, DEADLINE_S)
        assert await _kill(appender.client_name) == 1
        # Written to a connection Redis has closed: unanswered, so sent again after the reconnect.
        for n in range(1, 200):
            appender.send(b"%d" % n, None)
        last: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        appender.send(b"200", last)
        await asyncio.wait_for(last, DEADLINE_S)
    finally:
        await appender.close()
    got = await _entries(stream)
    # At least once: a batch Redis took just before the cut may come twice; every one comes, in order.
    deduplicated = list(dict.fromkeys(got))
    assert deduplicated == [b"%d" % n for n in range(201)]
    assert [int(x) for x in got] == sorted(int(x) for x in got)


async def test_an_unreachable_server_fails_whoever_waits_and_closing_does_not_hang() -> None:
    appender = StreamAppender(
        "redis://user:s3cret@127.0.0.1:1/0", "x", field=FIELD, maxlen=10, max_queued=10, label="Redis at test"
    )
    try:
        waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        appender.send(b"a", waiting)
        with pytest.raises(BusError, match="Redis at test is unreachable") as caught:
            await asyncio.wait_for(waiting, DEADLINE_S)
        assert "s3cret" not in str(caught.value)
        await asyncio.wait_for(appender.drain(60), DEADLINE_S)
    finally:
        await asyncio.wait_for(appender.close(), DEADLINE_S)
    with pytest.raises(BusError, match="closed"):
        appender.send(b"b", None)


async def test_a_full_queue_drops_its_oldest_batch_and_tells_whoever_waits_for_it() -> None:
    appender = StreamAppender("redis://127.0.0.1:1/0", "x", field=FIELD, maxlen=10, max_queued=2)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[None]] = [loop.create_future() for _ in range(3)]
    try:
        for n, future in enumerate(futures):
            appender.send(b"%d" % n, future)
        with pytest.raises(BusError, match="dropped"):
            await asyncio.wait_for(futures[0], DEADLINE_S)
    finally:
        await appender.close()
    for future in futures[1:]:
        with pytest.raises(BusError, match=r"closed|unreachable"):
            await future
