"""The local relay (bus/relay.py): a worker process's commits reach the API process's bus over a private socket."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import stat
from collections.abc import AsyncIterator

import pytest

from quarterdeck.bus import Delivery, MemoryBus
from quarterdeck.bus.relay import RelayPublisher, RelayServer
from quarterdeck.domain import plans
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database

DEADLINE_S = 10.0


@pytest.fixture
async def relay() -> AsyncIterator[tuple[MemoryBus, RelayServer]]:
    bus = MemoryBus()
    server = RelayServer(bus, RelayServer.private_path())
    await server.start()
    try:
        yield bus, server
    finally:
        await server.close()
        await bus.close()


async def _next(deliveries: AsyncIterator[Delivery]) -> Delivery:
    return await asyncio.wait_for(anext(deliveries), DEADLINE_S)


async def test_committed_events_reach_the_servers_bus_in_order(
    relay: tuple[MemoryBus, RelayServer], db: Database
) -> None:
    bus, server = relay
    assert stat.S_IMODE(server.path.parent.stat().st_mode) == 0o700, "only this user may push events"
    publisher = RelayPublisher(server.path)
    db.add_commit_listener(publisher)
    await publisher.connect()
    plan = plans.Plan(name="relay", tasks=(plans.TaskSpec(id="a", title="A"),))
    async with db.transaction() as conn:
        await run_store.create_run(conn, run_id="r1", plan=plan, repo_path="/r", base_ref="x", integration_branch="q")
    async with bus.subscribe() as subscription:
        deliveries = aiter(subscription)
        for n in range(3):
            async with db.transaction() as conn:
                await event_store.create_events(
                    conn, [event_store.NewEvent("r1", f"step.{n}", {"n": n}, task_id="a")] * 2
                )
        got = [await _next(deliveries) for _ in range(3)]
    assert [e.type for d in got for e in d.events] == ["step.0"] * 2 + ["step.1"] * 2 + ["step.2"] * 2
    assert [e.payload for d in got for e in d.events] == [{"n": n} for n in range(3) for _ in range(2)]
    assert publisher.dropped == 0
    await publisher.close()


async def test_a_frame_that_is_not_a_batch_closes_that_connection_only(relay: tuple[MemoryBus, RelayServer]) -> None:
    bus, server = relay
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    writer.write((5).to_bytes(4, "big") + b"nope!")
    assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b"", "the server closed it"
    writer.close()
    await writer.wait_closed()
    # Another connection still delivers.
    _, writer = await asyncio.open_unix_connection(str(server.path))
    async with bus.subscribe() as subscription:
        writer.write((2).to_bytes(4, "big") + b"[]")
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(anext(aiter(subscription)), 0.2)  # an empty batch publishes nothing
    writer.close()
    await writer.wait_closed()


async def test_a_publisher_without_a_server_drops_and_never_blocks(db: Database) -> None:
    path = RelayServer.private_path()
    shutil.rmtree(path.parent)  # a socket nobody listens on, in a directory that is gone
    publisher = RelayPublisher(path)
    db.add_commit_listener(publisher)
    await publisher.connect()  # nobody listens: it gives up, and commits go on
    plan = plans.Plan(name="relay", tasks=(plans.TaskSpec(id="a", title="A"),))
    async with db.transaction() as conn:
        await run_store.create_run(conn, run_id="r1", plan=plan, repo_path="/r", base_ref="x", integration_branch="q")
        await event_store.create_events(conn, [event_store.NewEvent("r1", "lost")])
    assert publisher.dropped == 1
    await publisher.close()
