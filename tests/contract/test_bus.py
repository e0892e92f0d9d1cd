"""The event bus and the live feed, on both buses (in-process and the real Redis) and both databases."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from quarterdeck.bus import BusError, Delivery, EventBus, EventFeed, MemoryBus, RedisBus, open_bus
from quarterdeck.domain import events as event_types
from quarterdeck.domain import plans
from quarterdeck.engine import control
from quarterdeck.errors import InputError
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import EventRecord
from quarterdeck.store.types import utcnow
from tests.support.databases import PostgresTemplate

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]
#: long enough that only the bus can deliver within a test's deadline, where that is the point
NO_POLL_S = 3600.0
DEADLINE_S = 10.0


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"qdtest:{secrets.token_hex(6)}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _make_bus(kind: str, prefix: str, *, max_pending: int = 1000) -> EventBus:
    if kind == "memory":
        return MemoryBus(max_pending=max_pending)
    return RedisBus(REDIS_URL, prefix=prefix)


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[EventBus]:
    bus = _make_bus(request.param, redis_prefix)
    yield bus
    await bus.close()


@pytest.fixture
async def feed(db: Database, bus: EventBus) -> AsyncIterator[EventFeed]:
    async with EventFeed(db, bus, poll_s=NO_POLL_S) as feed:
        yield feed


@pytest.fixture
def pg_url(pg_template: PostgresTemplate) -> Iterator[str]:
    name = pg_template.clone()
    yield pg_template.url(name)
    pg_template.drop(name)


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    """A fresh PostgreSQL database, for what only PostgreSQL does (transactions committing out of order)."""
    database = Database(pg_url)
    yield database
    await database.dispose()


# -- helpers -------------------------------------------------------------------------------


async def _create_run(db: Database, run_id: str = "r1") -> None:
    plan = plans.Plan(name="bus", tasks=(plans.TaskSpec(id="a", title="A"), plans.TaskSpec(id="b", title="B")))
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id=run_id, plan=plan, repo_path="/repo", base_ref="abc", integration_branch="qd"
        )


async def _write(db: Database, *types: str, run_id: str = "r1", task_id: str | None = None) -> None:
    """Commit one transaction with one event per type (numbered in the payload where the type allows a key)."""
    async with db.transaction() as conn:
        await event_store.create_events(
            conn, [event_store.NewEvent(run_id, t, _numbered(t, i), task_id=task_id) for i, t in enumerate(types)]
        )


def _numbered(type: str, n: int) -> dict[str, object]:
    return {} if event_types.undeclared(type, {"n": n}) else {"n": n}


async def _write_then_fail(db: Database) -> None:
    async with db.transaction() as conn:
        await event_store.create_events(conn, [event_store.NewEvent("r1", "rolled.back")])
        raise RuntimeError("changed my mind")


async def _table(db: Database) -> list[EventRecord]:
    async with db.read() as conn:
        return await event_store.read_event_log(conn, after_id=0, limit=100_000)


class Reader:
    """Consumes a subscription in a task, so that a test can await the next events with a deadline."""

    def __init__(self, events: AsyncIterator[EventRecord]) -> None:
        self._events = events
        self._queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self._events:
            self._queue.put_nowait(event)

    async def take(self, n: int) -> list[EventRecord]:
        async def _take() -> list[EventRecord]:
            return [await self._queue.get() for _ in range(n)]

        return await asyncio.wait_for(_take(), DEADLINE_S)

    def queued(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


@contextlib.asynccontextmanager
async def _reading(events: AsyncIterator[EventRecord]) -> AsyncIterator[Reader]:
    reader = Reader(events)
    try:
        yield reader
    finally:
        await reader.close()


async def _live(feed: EventFeed, db: Database, **filters: object) -> Reader:
    """A reader whose subscription is live: it has read a marker event from the table first."""
    await _write(db, "marker")
    ids = _ids(await _table(db))
    after = ids[-2] if len(ids) > 1 else 0
    reader = Reader(feed.subscribe(after_id=after, **filters))  # type: ignore[arg-type]
    assert [e.type for e in await reader.take(1)] == ["marker"]
    return reader


def _ids(events: list[EventRecord]) -> list[int]:
    return [e.id for e in events]


# -- the bus alone -------------------------------------------------------------------------


async def test_published_batches_reach_every_subscriber_in_order(bus: EventBus, db: Database) -> None:
    await _create_run(db)
    await _write(db, "a", "b")
    await _write(db, "c")
    first = await _table(db)
    async with bus.subscribe() as one, bus.subscribe() as two:
        await bus.publish(first[:2])
        await bus.publish(first[2:])
        for subscription in (one, two):
            deliveries = aiter(subscription)
            got = [await asyncio.wait_for(anext(deliveries), DEADLINE_S) for _ in range(2)]
            assert [[e.type for e in d.events] for d in got] == [["a", "b"], ["c"]]
            assert [d.events for d in got] == [tuple(first[:2]), tuple(first[2:])], "the events as the table has them"
            assert not any(d.missed for d in got)


async def test_a_subscriber_that_does_not_read_never_blocks_the_publisher(bus: EventBus, db: Database) -> None:
    await _create_run(db)
    await _write(db, "a")
    (event,) = await _table(db)
    async with bus.subscribe() as subscription:
        # 3,000 batches against queues of 1,000: the publisher finishes while nobody reads.
        await asyncio.wait_for(asyncio.gather(*(bus.publish([event]) for _ in range(3000))), DEADLINE_S)
        deliveries = aiter(subscription)
        first: Delivery = await asyncio.wait_for(anext(deliveries), DEADLINE_S)
        if isinstance(bus, MemoryBus):
            assert first.missed, "an in-process subscriber that fell behind is told so"
        else:
            assert first.events == (event,), "a Redis stream keeps what a slow reader has not read yet"


async def test_redis_bus_reports_an_unreachable_server_and_a_bad_url(redis_prefix: str) -> None:
    unreachable = RedisBus("redis://user:s3cret@127.0.0.1:1/0", prefix=redis_prefix)
    try:
        with pytest.raises(BusError, match=r"Redis at redis://user:\*\*\*@127\.0\.0\.1:1/0 is unreachable") as caught:
            await unreachable.ping()
        assert "s3cret" not in str(caught.value)
        with pytest.raises(BusError, match="unreachable"):
            await unreachable.publish([_record(1)])
        unreachable.publish_nowait([_record(2)])  # a commit listener: logs, never raises
    finally:
        await unreachable.close()
    with pytest.raises(BusError, match=r"invalid Redis URL 'http://x'.*redis://HOST:PORT/DB"):
        RedisBus("http://x")


def _record(event_id: int) -> EventRecord:
    return EventRecord(
        id=event_id, run_id="r1", task_id=None, attempt_id=None, type="x", payload={}, created_at=utcnow()
    )


def test_open_bus_picks_redis_when_a_url_is_set(tmp_path: Path) -> None:
    assert isinstance(open_bus(Settings(state_dir=tmp_path)), MemoryBus)
    redis_bus = open_bus(Settings(state_dir=tmp_path, redis_url=REDIS_URL))
    assert isinstance(redis_bus, RedisBus)
    asyncio.run(redis_bus.close())


# -- the feed ------------------------------------------------------------------------------


async def test_a_committed_event_reaches_a_live_subscriber_through_the_bus(feed: EventFeed, db: Database) -> None:
    await _create_run(db)
    reader = await _live(feed, db)
    try:
        # The feed's table poll is an hour away: only the commit listener and the bus can deliver this.
        await _write(db, "probe.ready", "probe.claimed", task_id="a")
        got = await reader.take(2)
        assert [(e.type, e.task_id, e.payload) for e in got] == [
            ("probe.ready", "a", {"n": 0}),
            ("probe.claimed", "a", {"n": 1}),
        ]
        assert got == (await _table(db))[-2:], "live events are the table's rows, ids and all"
    finally:
        await reader.close()


async def test_a_rolled_back_transaction_publishes_nothing(feed: EventFeed, db: Database) -> None:
    await _create_run(db)
    reader = await _live(feed, db)
    try:
        with pytest.raises(RuntimeError, match="changed my mind"):
            await _write_then_fail(db)
        await _write(db, "committed")
        (got,) = await reader.take(1)
        assert got.type == "committed", "the rolled-back event was never published"
        assert [e.type for e in await _table(db)] == ["marker", "committed"]
    finally:
        await reader.close()


async def test_resume_after_an_id_delivers_exactly_the_missed_events_then_live_ones(
    feed: EventFeed, db: Database
) -> None:
    await _create_run(db)
    for n in range(5):
        await _write(db, f"before.{n}")
    async with _reading(feed.subscribe()) as first:
        seen = await first.take(2)
    for n in range(3):
        await _write(db, f"missed.{n}")
    table = await _table(db)
    async with _reading(feed.subscribe(after_id=seen[-1].id)) as resumed:
        got = await resumed.take(6)
        assert got == table[2:], "everything after the last id seen, nothing before it, in order"
        await _write(db, "live.0")
        await _write(db, "live.1", "live.2")
        live = await resumed.take(3)
    assert [e.type for e in live] == ["live.0", "live.1", "live.2"]
    ids = _ids(got + live)
    assert ids == sorted(set(ids)), "in id order, no duplicates"
    assert ids == _ids(await _table(db))[2:]


async def test_subscribers_get_only_what_their_filters_match(feed: EventFeed, db: Database) -> None:
    await _create_run(db, "r1")
    await _create_run(db, "r2")
    await _create_run(db, "r3")
    await _write(db, "task.ready", "agent.output", run_id="r1", task_id="a")
    await _write(db, "task.ready", run_id="r1", task_id="b")
    await _write(db, "task.ready", "agent.output", run_id="r2", task_id="a")
    await _write(db, "agent.output", run_id="r3", task_id="a")
    history = await _table(db)
    subscriptions = {
        "runs": feed.subscribe(run_ids=frozenset({"r1", "r3"})),
        "task": feed.subscribe(run_ids=frozenset({"r1"}), task_id="a"),
        "types": feed.subscribe(types=frozenset({"agent.output"})),
        "all": feed.subscribe(),
    }

    def wanted(name: str, e: EventRecord) -> bool:
        return {
            "runs": e.run_id in {"r1", "r3"},
            "task": e.run_id == "r1" and e.task_id == "a",
            "types": e.type == "agent.output",
            "all": True,
        }[name]

    readers = {name: Reader(events) for name, events in subscriptions.items()}
    try:
        for name, reader in readers.items():
            assert await reader.take(sum(wanted(name, e) for e in history)) == [e for e in history if wanted(name, e)]
        await _write(db, "agent.output", run_id="r2", task_id="a")
        await _write(db, "task.ready", run_id="r3", task_id="b")
        await _write(db, "agent.output", "task.succeeded", run_id="r1", task_id="a")
        live = (await _table(db))[len(history) :]
        for name, reader in readers.items():
            expected = [e for e in live if wanted(name, e)]
            assert await reader.take(len(expected)) == expected, name
            assert reader.queued() == 0, f"{name}: nothing it did not ask for"
    finally:
        for reader in readers.values():
            await reader.close()


async def test_a_slow_subscriber_blocks_nobody_and_still_gets_every_event(db: Database, bus: EventBus) -> None:
    await _create_run(db)
    async with EventFeed(db, bus, poll_s=NO_POLL_S, max_pending=5) as feed:
        slow = feed.subscribe()
        fast = await _live(feed, db)
        # The slow subscriber is live too (it read the marker) and then stops reading.
        assert (await asyncio.wait_for(anext(slow), DEADLINE_S)).type == "marker"
        try:
            # 200 commits, each published: the writers finish while the slow one reads nothing.
            await asyncio.wait_for(_write_many(db, 200), DEADLINE_S * 3)
            assert len(await fast.take(200)) == 200
            # Its live queue overflowed and was dropped; it reads the rest from the table, in order.
            got = [await asyncio.wait_for(anext(slow), DEADLINE_S) for _ in range(200)]
            assert _ids(got) == _ids(await _table(db))[1:]
            assert [e.payload for e in got] == [{"n": 0}] * 200
            await _write(db, "after")
            assert (await asyncio.wait_for(anext(slow), DEADLINE_S)).type == "after", "and it is live again"
        finally:
            await fast.close()
            await slow.aclose()  # type: ignore[attr-defined]


async def _write_many(db: Database, n: int) -> None:
    for i in range(n):
        await _write(db, f"burst.{i}")


async def test_events_of_the_engine_reach_the_feed_without_the_engine_knowing(db: Database, bus: EventBus) -> None:
    await _create_run(db)
    async with EventFeed(db, bus, poll_s=NO_POLL_S) as feed:
        reader = await _live(feed, db, run_ids=frozenset({"r1"}))
        try:
            await control.pause_run(db, "r1")
            await control.unpause_run(db, "r1")
            assert [e.type for e in await reader.take(2)] == ["run.paused", "run.resumed"]
        finally:
            await reader.close()


async def test_a_negative_after_id_is_an_input_error(feed: EventFeed) -> None:
    with pytest.raises(InputError, match="after_id must be 0 or more, not -1"):
        await anext(feed.subscribe(after_id=-1))


async def test_closing_the_feed_ends_its_subscriptions(db: Database, bus: EventBus) -> None:
    await _create_run(db)
    feed = EventFeed(db, bus, poll_s=NO_POLL_S)
    reader = await _live(feed, db)
    await feed.close()
    await asyncio.wait_for(reader._task, DEADLINE_S)
    await reader.close()


# -- other processes -------------------------------------------------------------------------

#: a second process: its own Database (and RedisBus when given a prefix), committing one event
WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from quarterdeck.bus import RedisBus, attach
    from quarterdeck.store import events
    from quarterdeck.store.database import Database

    async def main(url, redis_url, prefix, event_type):
        db = Database(url)
        bus = RedisBus(redis_url, prefix=prefix) if prefix else None
        if bus is not None:
            attach(db, bus)
        async with db.transaction() as conn:
            await events.create_events(conn, [events.NewEvent("r1", event_type, {"pid": 1})])
        if bus is not None:
            await bus.close()  # flushes what the commit queued
        await db.dispose()

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def _run_writer(database_url: str, prefix: str, event_type: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, database_url, REDIS_URL, prefix, event_type,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE_S * 3)
    assert process.returncode == 0, f"writer failed:\n{stdout.decode()}\n{stderr.decode()}"


async def test_an_event_committed_by_another_process_reaches_this_feed_through_redis(
    db: Database, database_url: str, redis_prefix: str
) -> None:
    await _create_run(db)
    bus = RedisBus(REDIS_URL, prefix=redis_prefix)
    try:
        async with EventFeed(db, bus, poll_s=NO_POLL_S) as feed:
            reader = await _live(feed, db)
            try:
                await _run_writer(database_url, redis_prefix, "from.another.process")
                (got,) = await reader.take(1)
                assert (got.type, got.payload) == ("from.another.process", {"pid": 1})
                assert got == (await _table(db))[-1]
            finally:
                await reader.close()
    finally:
        await bus.close()


async def test_two_instances_on_one_redis_share_one_live_feed(
    db: Database, database_url: str, redis_prefix: str
) -> None:
    await _create_run(db)
    other_db = Database(database_url)
    buses = [RedisBus(REDIS_URL, prefix=redis_prefix), RedisBus(REDIS_URL, prefix=redis_prefix)]
    feeds = [EventFeed(db, buses[0], poll_s=NO_POLL_S), EventFeed(other_db, buses[1], poll_s=NO_POLL_S)]
    readers = [Reader(feed.subscribe()) for feed in feeds]
    try:
        await _write(db, "marker")
        for reader in readers:
            assert [e.type for e in await reader.take(1)] == ["marker"]
        # Both feeds are live, and their table polls are an hour away: Redis carries the rest.
        await _write(other_db, "written.by.the.other")
        await _write(db, "written.by.me")
        for reader in readers:
            assert [e.type for e in await reader.take(2)] == ["written.by.the.other", "written.by.me"]
    finally:
        for reader in readers:
            await reader.close()
        for feed, bus in zip(feeds, buses, strict=True):
            await feed.close()
            await bus.close()
        await other_db.dispose()


async def test_without_redis_the_table_poll_delivers_events_of_other_processes(db: Database, database_url: str) -> None:
    await _create_run(db)
    async with EventFeed(db, MemoryBus(), poll_s=0.05) as feed:
        reader = await _live(feed, db)
        try:
            await _run_writer(database_url, "", "written.without.a.bus")
            (got,) = await reader.take(1)
            assert got == (await _table(db))[-1]
            assert got.type == "written.without.a.bus"
        finally:
            await reader.close()


# -- PostgreSQL: ids that commit out of order ------------------------------------------------


class OpenTransaction:
    """A transaction that inserts an event (taking its id) and then waits to be told to commit or roll back."""

    def __init__(self, db: Database, event_type: str) -> None:
        self.inserted = asyncio.Event()
        self._finish = asyncio.Event()
        self._commit = True
        self._task = asyncio.get_running_loop().create_task(self._run(db, event_type))

    async def _run(self, db: Database, event_type: str) -> None:
        with contextlib.suppress(_RollBack):
            async with db.transaction() as conn:
                await event_store.create_events(conn, [event_store.NewEvent("r1", event_type)])
                self.inserted.set()
                await self._finish.wait()
                if not self._commit:
                    raise _RollBack

    async def end(self, *, commit: bool) -> None:
        self._commit = commit
        self._finish.set()
        await asyncio.wait_for(self._task, DEADLINE_S)


class _RollBack(Exception):
    pass


@pytest.mark.postgres
async def test_postgresql_ids_committing_out_of_order_are_delivered_in_id_order(pg_db: Database, bus: EventBus) -> None:
    await _create_run(pg_db)
    async with EventFeed(pg_db, bus, poll_s=NO_POLL_S, settle_s=DEADLINE_S) as feed:
        reader = await _live(feed, pg_db)
        try:
            first = OpenTransaction(pg_db, "first.id.commits.second")
            await asyncio.wait_for(first.inserted.wait(), DEADLINE_S)
            await _write(pg_db, "second.id.commits.first")
            await first.end(commit=True)
            got = await reader.take(2)
            assert [e.type for e in got] == ["first.id.commits.second", "second.id.commits.first"]
            assert _ids(got) == _ids(await _table(pg_db))[-2:]
        finally:
            await reader.close()


@pytest.mark.postgres
async def test_postgresql_a_rolled_back_id_holds_later_events_only_until_it_settles(
    pg_db: Database, bus: EventBus
) -> None:
    await _create_run(pg_db)
    async with EventFeed(pg_db, bus, poll_s=NO_POLL_S, settle_s=0.2) as feed:
        reader = await _live(feed, pg_db)
        try:
            doomed = OpenTransaction(pg_db, "rolled.back")
            await asyncio.wait_for(doomed.inserted.wait(), DEADLINE_S)
            await _write(pg_db, "after.the.gap")
            await doomed.end(commit=False)
            assert [e.type for e in await reader.take(1)] == ["after.the.gap"]
        finally:
            await reader.close()


@pytest.mark.postgres
async def test_postgresql_an_id_committing_after_it_was_given_up_still_arrives_once(
    pg_db: Database, bus: EventBus
) -> None:
    await _create_run(pg_db)
    async with EventFeed(pg_db, bus, poll_s=NO_POLL_S, settle_s=0.05) as feed:
        reader = await _live(feed, pg_db)
        try:
            slow = OpenTransaction(pg_db, "slow.transaction")
            await asyncio.wait_for(slow.inserted.wait(), DEADLINE_S)
            await _write(pg_db, "fast.transaction")
            assert [e.type for e in await reader.take(1)] == ["fast.transaction"]
            await slow.end(commit=True)
            (late,) = await reader.take(1)
            assert late.type == "slow.transaction", "released late, out of order, rather than lost"
            await _write(pg_db, "next")
            assert [e.type for e in await reader.take(1)] == ["next"], "and only once"
        finally:
            await reader.close()
        async with _reading(feed.subscribe()) as resumed:
            assert _ids(await resumed.take(4)) == _ids(await _table(pg_db)), "a table read has it in its place"
