"""Ordering policy of a live feed: events in from anywhere, in any order, twice over; out once, in id order.

Pure bookkeeping (no I/O, time is passed in), so every case is tested without a database.

Event ids come from the database. On SQLite one writer at a time inserts and commits, so ids
commit in order and a table read is complete up to the last id it returned: an id missing below
it will never appear. On PostgreSQL ids come from a sequence when the row is inserted, and
transactions commit in any order: id 11 may be visible while 10 is still in flight, or 10 may
belong to a transaction that rolled back and never appear. A missing id there holds later events
back for at most ``settle_s``; after that it is given up, and if it still commits (a transaction
that ran longer than ``settle_s``) it is released late, out of order, rather than lost.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from quarterdeck.store.records import EventRecord

__all__ = ["Release", "Sequencer"]

_log = logging.getLogger(__name__)

#: the most given-up ids remembered for a late release; a wider gap is not tracked id by id
_MAX_SKIPPED = 1_000


class Release(NamedTuple):
    """An event to hand to subscribers."""

    event: EventRecord
    #: its id is below ids released before it (it committed after its gap was given up)
    late: bool = False


class Sequencer:
    """Releases every event once, in id order, holding later ones back while an earlier id may still commit.

    Args:
        watermark: every id up to this one is already accounted for
        settle_s: how long a missing id may hold later ones back; None when the table is complete
            up to its last row (SQLite), so only a table read settles a missing id
        late_s: how long a given-up id is still released if it turns up
    """

    def __init__(self, *, watermark: int, settle_s: float | None, late_s: float = 60.0) -> None:
        #: every id up to here has been released or given up
        self.watermark = watermark
        self.settle_s = settle_s
        self.late_s = late_s
        self._pending: dict[int, EventRecord] = {}
        #: the highest id known to exist
        self._known_max = watermark
        #: (upto, since): missing ids in (previous upto, upto] have been known missing since ``since``
        self._marks: deque[tuple[int, float]] = deque()
        #: a table read proved that every id up to here that it did not return does not exist
        self._complete_upto = watermark
        #: given-up ids that would still be released late, with when they were given up
        self._skipped: dict[int, float] = {}

    @property
    def has_gap(self) -> bool:
        """Events are held back because an earlier id is missing."""
        return bool(self._pending)

    def skipped_ids(self) -> list[int]:
        """Given-up ids that are still worth looking for in the table."""
        return list(self._skipped)

    def give_up(self, ids: Iterable[int], now: float) -> None:
        """Treat ``ids`` (below the watermark) as given up: released late should they still commit."""
        for event_id in ids:
            if event_id <= self.watermark and len(self._skipped) < _MAX_SKIPPED:
                self._skipped[event_id] = now

    def offer(self, events: Iterable[EventRecord], now: float) -> list[Release]:
        """Take events from the bus or the table; returns what can be released now, in order."""
        late: list[Release] = []
        for event in events:
            event_id = event.id
            if event_id <= self.watermark:
                if self._skipped.pop(event_id, None) is not None:
                    late.append(Release(event, late=True))
                continue
            self._pending.setdefault(event_id, event)
            if event_id > self._known_max:
                if event_id > self._known_max + 1:
                    self._marks.append((event_id - 1, now))
                self._known_max = event_id
        return late + self._drain(now)

    def table_read(self, events: Sequence[EventRecord], now: float) -> list[Release]:
        """Take a table read (rows after some id, in id order); on SQLite it also proves what is absent."""
        released = self.offer(events, now)
        if self.settle_s is None and events:
            self._complete_upto = max(self._complete_upto, events[-1].id)
            released += self._drain(now)
        return released

    def expire(self, now: float) -> list[Release]:
        """Give up missing ids that have held the feed back for ``settle_s``; forget old given-up ids."""
        horizon = now - self.late_s
        for event_id in [i for i, at in self._skipped.items() if at < horizon]:
            del self._skipped[event_id]
        return self._drain(now)

    def deadline(self) -> float | None:
        """When ``expire`` would next give up a missing id (None: not before more is known)."""
        if not self._pending or self.settle_s is None:
            return None
        self._drop_marks()
        return (self._marks[0][1] if self._marks else 0.0) + self.settle_s

    def _drop_marks(self) -> None:
        while self._marks and self._marks[0][0] <= self.watermark:
            self._marks.popleft()

    def _drain(self, now: float) -> list[Release]:
        released: list[Release] = []
        pending = self._pending
        while pending:
            event = pending.pop(self.watermark + 1, None)
            if event is not None:
                released.append(Release(event))
                self.watermark = event.id
                continue
            # The next id is missing and something later is known: settle it, or wait.
            self._drop_marks()
            upto = min(pending) - 1
            if self._complete_upto > self.watermark:
                self._skip(min(upto, self._complete_upto), now, track=False)
                continue
            if self.settle_s is None or not self._marks:
                break
            mark_upto, since = self._marks[0]
            if since + self.settle_s > now:
                break
            self._skip(min(upto, mark_upto), now, track=True)
        return released

    def _skip(self, upto: int, now: float, *, track: bool) -> None:
        """Give up the ids after the watermark up to ``upto``."""
        first, self.watermark = self.watermark + 1, upto
        if not track:
            return
        if upto - first >= _MAX_SKIPPED:
            _log.warning("event feed: ids %d..%d did not commit in time; not waiting for them", first, upto)
            return
        self.give_up(range(first, upto + 1), now)
