"""The streams' fan-out: many subscribers, one of them slow; every one gets every event once, in order, as the
same text. On both databases, with the real feed and bus the API streams from (speed is in bench/load.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from quarterdeck.api import convert
from quarterdeck.api.frames import EventEncoder
from quarterdeck.api.streams import Keepalive, with_keepalive
from quarterdeck.bus import EventFeed, MemoryBus
from quarterdeck.domain import plans
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import EventRecord

DEADLINE_S = 30.0
NEVER_S = 3600.0


async def _create_run(db: Database) -> None:
    plan = plans.Plan(name="fanout", tasks=(plans.TaskSpec(id="a", title="A"),))
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id="r1", plan=plan, repo_path="/repo", base_ref="abc", integration_branch="qd"
        )


async def _write(db: Database, *types: str) -> None:
    async with db.transaction() as conn:
        await event_store.create_events(
            conn, [event_store.NewEvent("r1", t, {"n": i}, task_id="a") for i, t in enumerate(types)]
        )


async def _until(stream: AsyncIterator[list[EventRecord] | Keepalive], last: str, got: list[EventRecord]) -> None:
    async for item in stream:
        if isinstance(item, Keepalive):
            continue
        got += item
        if item[-1].type == last:
            return


async def test_many_streams_one_slow_every_one_gets_every_event_once_in_order(db: Database) -> None:
    await _create_run(db)
    frames = EventEncoder(size=50)  # smaller than the burst: an evicted event is encoded again, to the same text
    async with EventFeed(db, MemoryBus(), poll_s=NEVER_S, max_pending=5) as feed:
        streams = [with_keepalive(feed.subscribe_batches(run_ids=frozenset({"r1"})), NEVER_S) for _ in range(12)]
        received: list[list[EventRecord]] = [[] for _ in streams]
        try:
            await _write(db, "marker")
            # Every stream is live (it read the marker); the last one then stops reading.
            await asyncio.wait_for(
                asyncio.gather(*(_until(s, "marker", r) for s, r in zip(streams, received, strict=True))), DEADLINE_S
            )
            fast = [asyncio.create_task(_until(s, "end", r)) for s, r in zip(streams[:-1], received[:-1], strict=True)]
            for i in range(300):  # commits of 1-3 events while the slow stream reads nothing
                await _write(db, *[f"burst.{i}.{k}" for k in range(1 + i % 3)])
            await _write(db, "end")
            await asyncio.wait_for(asyncio.gather(*fast), DEADLINE_S)
            # Its buffer and then its live queue overflowed: it catches up from the table, with no gap.
            await asyncio.wait_for(_until(streams[-1], "end", received[-1]), DEADLINE_S)
        finally:
            for stream in streams:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
        async with db.read() as conn:
            table = await event_store.read_event_log(conn, after_id=0, limit=10_000)
    assert len(table) == 1 + sum(1 + i % 3 for i in range(300)) + 1
    for n, got in enumerate(received):
        assert [e.id for e in got] == [e.id for e in table], f"stream {n} missed, repeated or reordered an event"
        texts = [frames.json(e) for e in got]
        assert texts == [convert.event(e).model_dump_json() for e in table]


async def test_an_idle_stream_gets_keepalives_and_then_its_events(db: Database) -> None:
    await _create_run(db)
    async with EventFeed(db, MemoryBus(), poll_s=NEVER_S) as feed:
        stream = with_keepalive(feed.subscribe_batches(), 0.01)
        try:
            assert isinstance(await asyncio.wait_for(anext(stream), DEADLINE_S), Keepalive)
            assert isinstance(await asyncio.wait_for(anext(stream), DEADLINE_S), Keepalive), "the timer is re-armed"
            await _write(db, "news")
            item = await asyncio.wait_for(anext(stream), DEADLINE_S)
            while isinstance(item, Keepalive):
                item = await asyncio.wait_for(anext(stream), DEADLINE_S)
            assert [e.type for e in item] == ["news"]
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


async def test_a_stream_ends_when_the_server_stops(db: Database) -> None:
    await _create_run(db)
    stopping = asyncio.Event()
    async with EventFeed(db, MemoryBus(), poll_s=NEVER_S) as feed:
        stream = with_keepalive(feed.subscribe_batches(), NEVER_S, until=stopping)
        await _write(db, "first")
        assert [e.type for e in await asyncio.wait_for(anext(stream), DEADLINE_S)] == ["first"]  # type: ignore[union-attr]
        stopping.set()
        assert [item async for item in stream] == []
