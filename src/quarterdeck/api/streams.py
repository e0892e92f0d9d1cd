"""The live feed as the API serves it: the bus's gapless feed, narrowed to the caller's organisation.

Fan-out costs once per event, not once per subscriber: the feed hands each stream lists of events
(what is ready at once), each event is encoded once per process (``frames.EventEncoder``, shared by every
stream) and the same text goes to every socket that wants it; a stream's keep-alive is one timer,
re-armed only when it fires.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from quarterdeck.api.auth import Principal
from quarterdeck.api.services import Services
from quarterdeck.app import EventRecord, runs
from quarterdeck.app import events as event_log

__all__ = ["Keepalive", "check_run", "follow", "parse_types", "with_keepalive"]

#: how many runs' organisations one stream remembers
_ORG_CACHE = 10_000
#: batches a stream holds for its socket before it stops reading the feed (which then drops the
#: stream's live queue once ``max_pending`` events wait there, and the stream resumes from the table)
_MAX_BATCHES = 64


class Keepalive:
    """Stands in the stream for an idle interval, so proxies and clients keep the connection."""


def parse_types(types: str | None) -> frozenset[str]:
    return frozenset(t.strip() for t in (types or "").split(",") if t.strip())


async def check_run(svc: Services, principal: Principal, run_id: str | None) -> None:
    """NotFound unless ``run_id`` (when given) is a run of the caller's organisation; call before streaming."""
    if run_id is not None:
        await runs.read_run(svc.db, run_id, org_id=principal.org_id)


async def follow(
    svc: Services,
    principal: Principal,
    *,
    run_id: str | None,
    task_id: str | None,
    types: frozenset[str],
    after_id: int,
) -> AsyncIterator[list[EventRecord]]:
    """Events after ``after_id`` (history, then live), of the caller's organisation only, in non-empty lists."""
    orgs: dict[str, str] = {}
    feed = svc.feed.subscribe_batches(
        run_ids=frozenset([run_id]) if run_id is not None else None, task_id=task_id, types=types, after_id=after_id
    )
    own = principal.org_id
    try:
        async for batch in feed:
            unknown = {event.run_id for event in batch if event.run_id not in orgs}
            if unknown:
                found = await event_log.read_run_orgs(svc.db, sorted(unknown))
                if len(orgs) + len(unknown) > _ORG_CACHE:
                    orgs.clear()
                orgs.update({run: found.get(run, "") for run in unknown})
            mine = [event for event in batch if orgs.get(event.run_id) == own]
            if mine:
                yield mine
    finally:
        # The feed is an async generator: close it now, not whenever it is collected.
        close = getattr(feed, "aclose", None)
        if close is not None:
            await close()


async def with_keepalive(
    batches: AsyncIterator[list[EventRecord]], every_s: float, *, until: asyncio.Event | None = None
) -> AsyncIterator[list[EventRecord] | Keepalive]:
    """The batches, with a ``Keepalive`` whenever none came for ``every_s`` seconds; they end once ``until`` is set.

    A pump task reads the feed into a bounded buffer (so a slow socket never cancels the feed's own
    iteration halfway, and never holds more than ``_MAX_BATCHES``); batches that queued up while the
    socket was busy come out merged into one. The keep-alive is one timer per stream.
    """
    loop = asyncio.get_running_loop()
    pending: deque[list[EventRecord] | BaseException | None] = deque()
    ready = asyncio.Event()
    space = asyncio.Event()
    active_at = loop.time()

    def push(item: list[EventRecord] | BaseException | None) -> None:
        pending.append(item)
        ready.set()

    async def pump() -> None:
        try:
            async for batch in batches:
                while len(pending) >= _MAX_BATCHES:
                    space.clear()
                    await space.wait()
                push(batch)
            push(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            push(exc)

    idle = False
    timer: asyncio.TimerHandle | None = None

    def tick() -> None:
        nonlocal idle, timer
        due = active_at + every_s
        if loop.time() >= due:
            idle = True
            ready.set()
            due = loop.time() + every_s
        timer = loop.call_at(due, tick)

    async def stop() -> None:
        if until is not None:
            await until.wait()
            push(None)

    task = asyncio.create_task(pump())
    stopper = asyncio.create_task(stop())
    timer = loop.call_at(active_at + every_s, tick)
    try:
        while True:
            if not pending:
                if idle:
                    idle = False
                    yield Keepalive()
                    continue
                ready.clear()
                await ready.wait()
                continue
            merged: list[EventRecord] = []
            end: BaseException | None = None
            finished = False
            while pending:
                item = pending.popleft()
                if item is None:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    end = item
                    break
                merged += item
            space.set()
            if merged:
                active_at = loop.time()
                idle = False
                yield merged
            if end is not None:
                raise end
            if finished:
                return
    finally:
        if timer is not None:
            timer.cancel()
        for helper in (task, stopper):
            helper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await helper
