"""Benchmark: live event delivery, from commit to subscriber, with 100 subscribers and 50 streaming agents.

Issue 9's goal: delivery p99 under 50 ms. Each agent commits a transaction of ``--per-tx`` events
``--rate`` times a second (like an agent streaming output); 100 subscribers of one ``EventFeed``
each receive every event. Latency is measured from the moment the transaction committed (a commit
listener registered before the bus's stamps it with ``time.monotonic()``, which on Linux is one
clock for every process of the machine) to the moment a subscriber's iterator yields the event.
Every subscriber must receive every event exactly once, in id order; the bench checks it.

Setups:

* ``embedded``          SQLite + in-process bus, agents in this process (``quarterdeck serve`` with its worker)
* ``postgresql``        PostgreSQL + in-process bus, agents in this process
* ``redis-sqlite``      SQLite + Redis, agents in a second process (a worker elsewhere), subscribers here
* ``redis-postgresql``  PostgreSQL + Redis, likewise

A second table shows what publishing costs a writer: sequential one-event transactions with no
listener (as the engine runs when nothing subscribes), with the bus attached, and with a feed of
100 subscribers in the same process.

    .venv/bin/python bench/events.py [--quick] [--setups embedded,postgresql,redis-sqlite,redis-postgresql]

Needs PostgreSQL at ``--pg-url`` and Redis at ``--redis-url`` for the setups that use them.

Figures (2026-11-23, 10 s of load, load average 1.0 → 0.4; p50 / p90 / p99 / max in ms):

    embedded           0.91  1.28  1.69   3.83
    postgresql         0.95  1.48  3.08   7.12
    redis-sqlite       1.14  1.60  2.47  17.70
    redis-postgresql   1.56  2.39  5.23  25.16

Before the Redis publisher wrote its XADD in the commit listener (``bus/appender.py``), SQLite
checkpointed on the event loop (``store/checkpointer.py``) and this harness kept its samples in
arrays, the two Redis setups' p99 was 100-130 ms: the writer's batches waited behind a pipeline's
round trip, checkpoint fsyncs stalled loops for 100-300 ms, and half a million sample tuples made
the subscribing process's garbage collector pause ~100 ms while the writer went on committing.
This measures the feed; the WebSocket hop of the API adds its own serialisation and socket write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as redis
from sqlalchemy.engine import make_url

from quarterdeck.bus import EventBus, EventFeed, MemoryBus, RedisBus, attach
from quarterdeck.domain import plans
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import EventRecord

__all__ = ["main"]

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
SETUPS = ("embedded", "postgresql", "redis-sqlite", "redis-postgresql")
RUN_ID = "bench"
END = "bench.end"


@dataclass(frozen=True, slots=True)
class Load:
    agents: int
    subscribers: int
    rate: float
    per_tx: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class Delivery:
    setup: str
    events: int
    samples: list[float]
    complete: bool
    wall_s: float
    #: per event id committed after a higher id: how much later (ms) — what a feed must hold for it
    holds: list[float]


# -- databases -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(kind: str, pg_url: str, tmp: Path) -> AsyncIterator[str]:
    """A fresh, migrated database URL with the bench run in it; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / f'events-{secrets.token_hex(3)}.db'}"
        name = None
    else:
        name = f"qd_bench_events_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(pg_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        await db.upgrade()
        plan = plans.Plan(name="bench", tasks=(plans.TaskSpec(id="t", title="t"),))
        async with db.transaction() as conn:
            await run_store.create_run(
                conn, run_id=RUN_ID, plan=plan, repo_path="/bench", base_ref="HEAD", integration_branch="qd"
            )
    finally:
        await db.dispose()
    try:
        yield url
    finally:
        if name is not None:
            admin = await asyncpg.connect(pg_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


# -- agents ------------------------------------------------------------------------------------


def stamp_commits(db: Database) -> dict[int, float]:
    """Record when each event's transaction committed; call before anything attaches a bus."""
    stamps: dict[int, float] = {}

    def _stamp(events: Sequence[EventRecord]) -> None:
        now = time.monotonic()
        for event in events:
            stamps[event.id] = now

    db.add_commit_listener(_stamp)
    return stamps


async def run_agents(db: Database, load: Load) -> int:
    """``load.agents`` agents streaming for ``load.duration_s``, then one END event; returns events written."""
    loop = asyncio.get_running_loop()
    end = loop.time() + load.duration_s
    written = 0

    async def _agent(i: int) -> None:
        nonlocal written
        next_at = loop.time() + (i / load.agents) / load.rate
        line = 0
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - loop.time()))  # pacing the load, not synchronisation
            new = [
                event_store.NewEvent(
                    RUN_ID, "agent.output", {"stream": "stdout", "text": f"agent {i} line {line + k} " + "x" * 60},
                    task_id="t",
                )
                for k in range(load.per_tx)
            ]  # fmt: skip
            async with db.transaction() as conn:
                await event_store.create_events(conn, new)
            written += len(new)
            line += load.per_tx
            next_at += 1 / load.rate

    await asyncio.gather(*(_agent(i) for i in range(load.agents)))
    async with db.transaction() as conn:
        await event_store.create_events(conn, [event_store.NewEvent(RUN_ID, END)])
    return written


async def writer_process(url: str, redis_url: str, prefix: str, load: Load) -> None:
    """The agents of a Redis setup, in their own process; prints the commit stamps as JSON."""
    db = Database(url)
    stamps = stamp_commits(db)
    bus = RedisBus(redis_url, prefix=prefix)
    attach(db, bus)
    try:
        await run_agents(db, load)
    finally:
        await bus.close()
        await db.dispose()
    json.dump({str(k): v for k, v in stamps.items()}, sys.stdout)


# -- subscribers -------------------------------------------------------------------------------


class Received:
    """What one subscriber received: ids and times in two arrays, so that 100 subscribers × 5,000 events
    leave no objects for Python's cyclic garbage collector to walk (half a million tuples made its full
    collections pause the subscribing process ~100 ms and counted as delivery latency)."""

    __slots__ = ("ids", "times")

    def __init__(self) -> None:
        self.ids = array("q")
        self.times = array("d")

    def __len__(self) -> int:
        return len(self.ids)


async def subscribe(feed: EventFeed, after_id: int, received: Received, ready: asyncio.Event) -> None:
    events = feed.subscribe(after_id=after_id)
    try:
        async for event in events:
            if event.type == "ready":
                ready.set()
                continue
            if event.type == END:
                return
            received.ids.append(event.id)
            received.times.append(time.monotonic())
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def _forget(redis_url: str, prefix: str) -> None:
    """Delete the bench's own stream from the shared Redis."""
    admin = redis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*")]
        if keys:
            await admin.delete(*keys)
    finally:
        await admin.aclose()


async def measure(setup: str, load: Load, pg_url: str, redis_url: str, tmp: Path) -> Delivery:
    kind = "postgresql" if setup.endswith("postgresql") else "sqlite"
    remote = setup.startswith("redis")
    prefix = f"qdbench:{secrets.token_hex(4)}:"
    async with database(kind, pg_url, tmp) as url:
        db = Database(url, pool_size=20)
        stamps = stamp_commits(db)
        bus: EventBus = RedisBus(redis_url, prefix=prefix) if remote else MemoryBus()
        feed = EventFeed(db, bus, poll_s=0.25)
        try:
            received = [Received() for _ in range(load.subscribers)]
            ready = [asyncio.Event() for _ in range(load.subscribers)]
            subscribers = [
                asyncio.create_task(subscribe(feed, 0, received[i], ready[i])) for i in range(load.subscribers)
            ]
            async with db.transaction() as conn:
                await event_store.create_events(conn, [event_store.NewEvent(RUN_ID, "ready")])
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
            started = time.monotonic()
            if remote:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--writer", url, "--redis-url", redis_url, "--prefix", prefix,
                    "--agents", str(load.agents), "--rate", str(load.rate), "--per-tx", str(load.per_tx),
                    "--duration", str(load.duration_s),
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, _ = await process.communicate()
                if process.returncode != 0:
                    raise SystemExit(f"the writer process failed ({process.returncode})")
                stamps.update({int(k): v for k, v in json.loads(out).items()})
            else:
                await run_agents(db, load)
            try:
                await asyncio.wait_for(asyncio.gather(*subscribers), 120)
            except TimeoutError:
                counts = sorted({len(r) for r in received})
                raise SystemExit(f"{setup}: subscribers missed the end; they received {counts} events") from None
            wall = time.monotonic() - started
        finally:
            await feed.close()
            await bus.close()
            await db.dispose()
            if remote:
                await _forget(redis_url, prefix)
    samples: list[float] = []
    complete = True
    for got in received:
        ids = list(got.ids)
        complete &= ids == sorted(set(ids))
        samples += [(t - stamps[i]) * 1000 for i, t in zip(got.ids, got.times, strict=True) if i in stamps]
    n_events = len(received[0]) if received else 0
    # every subscriber got every agent event (all stamped commits but "ready" and END)
    complete &= all(len(r) == len(stamps) - 2 for r in received)
    return Delivery(setup, n_events, samples, complete, wall, _holds(stamps))


def _holds(stamps: dict[int, float]) -> list[float]:
    """For each id that committed after some higher id did, how long after the first such commit (ms).

    That is how long a feed that releases ids in order must hold the higher ones back for it: the
    measure of ``EventFeed(settle_s=…)`` on PostgreSQL (SQLite commits ids in order: always empty).
    """
    holds: list[float] = []
    first_higher = float("inf")
    for event_id in sorted(stamps, reverse=True):
        at = stamps[event_id]
        if at > first_higher:
            holds.append((at - first_higher) * 1000)
        first_higher = min(first_higher, at)
    return holds


# -- commit overhead ---------------------------------------------------------------------------


async def commit_cost(kind: str, pg_url: str, tmp: Path, n: int, subscribers: int) -> list[tuple[str, float, float]]:
    """Sequential one-event transactions: (variant, transactions/s, CPU µs per transaction)."""
    rows = []
    async with database(kind, pg_url, tmp) as url:
        for variant in ("no listener", "bus attached", f"feed, {subscribers} subscribers"):
            db = Database(url)
            bus = MemoryBus()
            feed: EventFeed | None = None
            tasks: list[asyncio.Task[None]] = []
            if variant == "bus attached":
                attach(db, bus)
            elif variant != "no listener":
                feed = EventFeed(db, bus, poll_s=0.25)
                ready = [asyncio.Event() for _ in range(subscribers)]
                sink = Received()
                tasks = [asyncio.create_task(subscribe(feed, 0, sink, r)) for r in ready]
                async with db.transaction() as conn:
                    await event_store.create_events(conn, [event_store.NewEvent(RUN_ID, "ready")])
                await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
            new = [event_store.NewEvent(RUN_ID, "task.claimed", {"worker": "w1"}, task_id="t")]
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                async with db.transaction() as conn:
                    await event_store.create_events(conn, new)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if feed is not None:
                async with db.transaction() as conn:
                    await event_store.create_events(conn, [event_store.NewEvent(RUN_ID, END)])
                await asyncio.wait_for(asyncio.gather(*tasks), 60)
                await feed.close()
            await bus.close()
            await db.dispose()
            rows.append((variant, n / wall, cpu * 1e6 / n))
    return rows


# -- report ------------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, load: Load, setups: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="qd-bench-events-") as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(
            f"load: {load.agents} agents × {load.rate:g} commits/s × {load.per_tx} events for {load.duration_s:g} s; "
            f"{load.subscribers} subscribers of one feed, each receiving every event"
        )
        print()
        print("(a) delivery latency, commit → subscriber, ms (lower is better; goal: p99 < 50)")
        print(f"  {'setup':<18}{'events':>8}{'samples':>10}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}  complete")
        late: list[tuple[str, list[float], int]] = []
        for setup in setups:
            result = await measure(setup, load, args.pg_url, args.redis_url, tmp)
            late.append((setup, result.holds, result.events))
            s = result.samples
            print(
                f"  {setup:<18}{result.events:>8}{len(s):>10}{statistics.median(s):>8.2f}{percentile(s, 90):>8.2f}"
                f"{percentile(s, 99):>8.2f}{max(s):>8.2f}  {'yes' if result.complete else 'NO'}",
                flush=True,
            )
        print()
        print(f"(b) what publishing costs a writer: {args.commits} sequential one-event transactions")
        print(f"  {'database':<12}{'variant':<26}{'tx/s':>9}{'CPU µs/tx':>11}")
        for kind in ["sqlite", "postgresql"] if any("postgresql" in s for s in setups) else ["sqlite"]:
            for variant, rate, cpu in await commit_cost(kind, args.pg_url, tmp, args.commits, load.subscribers):
                print(f"  {kind:<12}{variant:<26}{rate:>9.0f}{cpu:>11.0f}", flush=True)
        print()
        print("(c) ids committed out of order: how long a later id waited for them, ms (what settle_s must cover)")
        print(f"  {'setup':<18}{'late ids':>9}{'of':>8}{'p50':>8}{'p99':>8}{'max':>8}")
        for setup, holds, events in late:
            if holds:
                print(
                    f"  {setup:<18}{len(holds):>9}{events:>8}{statistics.median(holds):>8.2f}"
                    f"{percentile(holds, 99):>8.2f}{max(holds):>8.2f}"
                )
            else:
                print(f"  {setup:<18}{0:>9}{events:>8}       —       —       —")
        load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print()
        print(f"load average at the end: {load_avg} (other work on the machine makes figures noisy)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10, 500 commits instead of 2000")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"comma-separated, of {', '.join(SETUPS)}")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="commits per second per agent")
    parser.add_argument("--per-tx", type=int, default=2, help="events per commit")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument("--commits", type=int, default=None, help="transactions of the commit-cost table")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--writer", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    duration = args.duration or (3.0 if args.quick else 10.0)
    args.commits = args.commits or (500 if args.quick else 2000)
    load = Load(args.agents, args.subscribers, args.rate, args.per_tx, duration)
    if args.writer:
        asyncio.run(writer_process(args.writer, args.redis_url, args.prefix, load))
        return 0
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if unknown := set(setups) - set(SETUPS):
        parser.error(f"unknown setup(s): {', '.join(sorted(unknown))}")
    asyncio.run(run(args, load, setups))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
