"""The feed's ordering policy, case by case, with time passed in (no database, no clock)."""

from __future__ import annotations

from quarterdeck.bus.sequencer import Release, Sequencer
from quarterdeck.store.records import EventRecord
from quarterdeck.store.types import utcnow

NOW = utcnow()


def _e(*ids: int) -> list[EventRecord]:
    return [
        EventRecord(id=i, run_id="r", task_id=None, attempt_id=None, type="t", payload={}, created_at=NOW) for i in ids
    ]


def _ids(released: list[Release]) -> list[tuple[int, bool]]:
    return [(r.event.id, r.late) for r in released]


def test_in_order_events_are_released_at_once_and_duplicates_dropped() -> None:
    s = Sequencer(watermark=10, settle_s=0.5)
    assert _ids(s.offer(_e(11, 12), now=0)) == [(11, False), (12, False)]
    assert s.offer(_e(12, 9), now=0) == [], "already released, or before the start"
    assert s.watermark == 12


def test_a_gap_holds_later_events_until_it_fills() -> None:
    s = Sequencer(watermark=0, settle_s=0.5)
    assert s.offer(_e(2, 3), now=0) == []
    assert s.has_gap
    assert s.deadline() == 0.5
    assert _ids(s.offer(_e(1), now=0.1)) == [(1, False), (2, False), (3, False)]
    assert not s.has_gap
    assert s.deadline() is None


def test_postgresql_a_gap_that_never_fills_is_given_up_after_settle_s_and_released_late_if_it_commits() -> None:
    s = Sequencer(watermark=0, settle_s=0.5)
    s.offer(_e(2), now=0)
    assert s.expire(now=0.49) == []
    assert _ids(s.expire(now=0.5)) == [(2, False)]
    assert s.skipped_ids() == [1]
    assert _ids(s.offer(_e(1), now=1)) == [(1, True)], "late, once"
    assert s.offer(_e(1), now=1) == []
    assert s.skipped_ids() == []


def test_each_gap_settles_from_when_it_was_first_seen() -> None:
    s = Sequencer(watermark=0, settle_s=0.5)
    s.offer(_e(2), now=0)  # 1 missing since 0
    s.offer(_e(5), now=0.3)  # 3 and 4 missing since 0.3
    assert _ids(s.expire(now=0.5)) == [(2, False)]
    assert s.deadline() == 0.8
    assert _ids(s.offer(_e(3, 4), now=0.6)) == [(3, False), (4, False), (5, False)]


def test_given_up_ids_are_forgotten_after_late_s() -> None:
    s = Sequencer(watermark=0, settle_s=0.1, late_s=10)
    s.offer(_e(2), now=0)
    s.expire(now=1)
    assert s.skipped_ids() == [1]
    s.expire(now=12)
    assert s.skipped_ids() == []
    assert s.offer(_e(1), now=12) == []


def test_sqlite_a_table_read_settles_missing_ids_at_once() -> None:
    s = Sequencer(watermark=0, settle_s=None)
    s.offer(_e(3), now=0)
    assert s.deadline() is None, "on SQLite only the table settles a gap"
    assert s.expire(now=100) == []
    # The table has 2 and 3 but not 1: 1 will never exist (ids commit in order on SQLite).
    assert _ids(s.table_read(_e(2, 3), now=0.01)) == [(2, False), (3, False)]
    assert s.skipped_ids() == [], "nothing to wait for"
