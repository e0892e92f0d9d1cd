"""The pull request follower: reads every run's events as they are committed and keeps forges in step.

A push, a landing, a task's success or a run's end makes the run's pull request be synced
(``pulls.sync_run``) and hands review feedback that waited for its task (``reviews.dispatch_pending``)
to the task. ``quarterdeck serve`` runs one; any process may, since each step is idempotent. A
forge that fails is logged and tried again at the run's next event (or the follower's next start,
which syncs every run with an open pull request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import sqlalchemy as sa

from quarterdeck.domain.events import EventType
from quarterdeck.errors import QuarterdeckError
from quarterdeck.forges import pulls, reviews
from quarterdeck.forges.tokens import ForgeSecrets
from quarterdeck.store import events as event_store
from quarterdeck.store import forges as forge_store
from quarterdeck.store.database import Database
from quarterdeck.store.tables import forge_links

__all__ = ["PullRequestFollower"]

log = logging.getLogger(__name__)

#: the events after which a run's pull request may need a change
_TRIGGERS = (
    EventType.PUSH_DONE,
    EventType.TASK_SUCCEEDED,
    EventType.RUN_FINISHED,
    EventType.RUN_CANCELLED,
    EventType.RUN_BUDGET_EXHAUSTED,
    EventType.APPROVAL_DECIDED,
)


#: how long a run whose repository has no ``[forge]`` is not looked at again (a table added meanwhile waits this long)
_PLAIN_S = 60.0


class PullRequestFollower:
    """Follows the event log from where it starts; ``should_exit`` stops it after one last look."""

    def __init__(self, db: Database, secrets: ForgeSecrets, *, cache_root: Path, tick_s: float = 0.5) -> None:
        self.db = db
        self.secrets = secrets
        #: where this machine caches repositories named by URL
        self.cache_root = cache_root
        self.tick_s = tick_s
        self.should_exit = False
        self._wake = asyncio.Event()
        self._cursor = 0
        #: the newest event id when the last step began: the next step reads up to it
        self._horizon = 0
        #: runs whose repository has no [forge], until when that is believed
        self._plain: dict[str, float] = {}

    def wake(self) -> None:
        """Look at the log now (a webhook changed something) rather than at the next tick."""
        self._wake.set()

    async def serve(self) -> None:
        try:
            async with self.db.read() as conn:
                self._cursor = self._horizon = await forge_store.read_last_event_id(conn)
                rows = await conn.execute(sa.select(forge_links.c.run_id).where(forge_links.c.state == "open"))
                unsettled = {r[0] for r in rows}
        except QuarterdeckError as exc:
            log.warning("pull request follower: %s", exc)
            unsettled = set()
        for run_id in sorted(unsettled):  # what changed while no follower ran
            await self.sync(run_id)
        while True:
            stopping = self.should_exit  # read before the step: a stop asked during it still gets a last look
            try:
                await self.step()
                if stopping:  # and up to the newest event (committed by now: whoever stopped us waited for it)
                    await self.step()
            except QuarterdeckError as exc:  # the database away: ride it out
                log.warning("pull request follower: %s", exc)
            if stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_s)
            self._wake.clear()

    async def step(self) -> int:
        """Sync every run with new triggering events; returns how many runs were looked at.

        Reads up to the newest id seen at the previous step (the horizon), never the newest now: on
        PostgreSQL an id may commit after a higher one, and a tick later it has. The cursor moves to
        the horizon whether or not a triggering event was found, so a tick reads only what is new."""
        async with self.db.read() as conn:
            top = await forge_store.read_last_event_id(conn)
            found = []
            if self._horizon > self._cursor:
                found = await event_store.read_event_log(
                    conn, after_id=self._cursor, until_id=self._horizon, types=_TRIGGERS, limit=100_000
                )
        self._cursor, self._horizon = max(self._cursor, self._horizon), top
        if not found:
            return 0
        runs = sorted({e.run_id for e in found})
        for run_id in runs:
            await self.sync(run_id)
        return len(runs)

    async def sync(self, run_id: str) -> None:
        now = time.monotonic()
        if self._plain.get(run_id, 0.0) > now:
            return  # its repository had no [forge] a moment ago (a URL's would be fetched again to tell)
        try:
            await reviews.dispatch_pending(self.db, run_id, cache_root=self.cache_root)
            synced = await pulls.sync_run(self.db, self.secrets, run_id, cache_root=self.cache_root)
        except QuarterdeckError as exc:
            log.warning("run %s: its pull request could not be synced: %s", run_id, exc)
            return
        if not synced.forge:
            self._plain = {r: t for r, t in self._plain.items() if t > now}  # (forget the expired)
            self._plain[run_id] = now + _PLAIN_S
