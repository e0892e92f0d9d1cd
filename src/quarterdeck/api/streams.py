"""The live feed as the API serves it: the bus's gapless feed, narrowed to the caller's organisation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from quarterdeck.api.auth import Principal
from quarterdeck.api.services import Services
from quarterdeck.store import listings
from quarterdeck.store.records import EventRecord

__all__ = ["Keepalive", "check_run", "follow", "parse_types", "with_keepalive"]

#: how many runs' organisations one stream remembers
_ORG_CACHE = 10_000


class Keepalive:
    """Stands in the stream for an idle interval, so proxies and clients keep the connection."""


def parse_types(types: str | None) -> frozenset[str]:
    return frozenset(t.strip() for t in (types or "").split(",") if t.strip())


async def check_run(svc: Services, principal: Principal, run_id: str | None) -> None:
    """NotFound unless ``run_id`` (when given) is a run of the caller's organisation; call before streaming."""
    if run_id is not None:
        async with svc.db.read() as conn:
            await listings.read_run(conn, run_id, org_id=principal.org_id)


async def follow(
    svc: Services,
    principal: Principal,
    *,
    run_id: str | None,
    task_id: str | None,
    types: frozenset[str],
    after_id: int,
) -> AsyncIterator[EventRecord]:
    """Events after ``after_id`` (history, then live), of the caller's organisation only."""
    orgs: dict[str, str] = {}
    feed = svc.feed.subscribe(
        run_ids=frozenset([run_id]) if run_id is not None else None, task_id=task_id, types=types, after_id=after_id
    )
    try:
        async for event in feed:
            org = orgs.get(event.run_id)
            if org is None:
                async with svc.db.read() as conn:
                    org = (await listings.read_run_orgs(conn, [event.run_id])).get(event.run_id, "")
                if len(orgs) >= _ORG_CACHE:
                    orgs.clear()
                orgs[event.run_id] = org
            if org == principal.org_id:
                yield event
    finally:
        # The feed is an async generator: close it now, not whenever it is collected.
        close = getattr(feed, "aclose", None)
        if close is not None:
            await close()


async def with_keepalive(
    events: AsyncIterator[EventRecord], every_s: float, *, until: asyncio.Event | None = None
) -> AsyncIterator[EventRecord | Keepalive]:
    """The events, with a ``Keepalive`` whenever none came for ``every_s`` seconds; they end once ``until`` is set.

    A pump task reads the feed into a queue, so that waiting with a timeout never cancels the
    feed's own iteration halfway.
    """
    queue: asyncio.Queue[EventRecord | BaseException | None] = asyncio.Queue(maxsize=1000)

    async def pump() -> None:
        try:
            async for event in events:
                await queue.put(event)
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(exc)

    async def stop() -> None:
        if until is not None:
            await until.wait()
            await queue.put(None)

    task = asyncio.create_task(pump())
    stopper = asyncio.create_task(stop())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=every_s)
            except TimeoutError:
                yield Keepalive()
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for helper in (task, stopper):
            helper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await helper
