from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quarterdeck.domain import durations
from quarterdeck.domain.analytics import parse_window


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        (90, 90.0),
        (2.5, 2.5),
        (0, 0.0),
        ("90", 90.0),
        ("0.5", 0.5),
        ("90s", 90.0),
        ("20m", 1200.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        ("2d", 172800.0),
        ("1d2h3m4s", 93784.0),
        (" 45s ", 45.0),
    ],
)
def test_numbers_and_durations_are_seconds(written: object, seconds: float) -> None:
    assert durations.parse_seconds(written) == seconds


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("", "must be a number of seconds or a duration such as 90s, 20m or 1h30m, not ''"),
        ("soon", "must be a number of seconds or a duration such as 90s, 20m or 1h30m, not 'soon'"),
        ("5x", "must be a number of seconds or a duration such as 90s, 20m or 1h30m, not '5x'"),
        ("30m1h", "must be a number of seconds or a duration such as 90s, 20m or 1h30m, not '30m1h'"),
        ("1h1h", "must be a number of seconds or a duration such as 90s, 20m or 1h30m, not '1h1h'"),
        ("inf", "must be a number of seconds or a duration such as 90s, 20m or 1h30m, not 'inf'"),
        (True, "must be a number of seconds or a duration such as 90s, 20m or 1h30m"),
        ([3], "must be a number of seconds or a duration such as 90s, 20m or 1h30m"),
        (float("nan"), "must be a number of seconds or a duration such as 90s, 20m or 1h30m"),
        (-1, "must be 0 or more (a number of seconds or a duration such as 90s, 20m or 1h30m)"),
        ("-5", "must be 0 or more (a number of seconds or a duration such as 90s, 20m or 1h30m)"),
        ("31d", "must be at most 30 days"),
        (10**400, "must be at most 30 days"),
    ],
)
def test_anything_else_is_refused_saying_what_is_accepted(written: object, message: str) -> None:
    with pytest.raises(ValueError, match="must be") as caught:
        durations.parse_seconds(written)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (2.5, "2.5s"), (90, "1m30s"), (5400, "1h30m"), (1200, "20m"), (86461, "1d1m1s")]
)
def test_a_duration_is_described_as_it_is_written_and_reads_back(seconds: float, shown: str) -> None:
    assert durations.describe(seconds) == shown
    assert durations.parse_seconds(shown) == seconds


def test_an_age_has_no_upper_limit_and_may_count_weeks() -> None:
    assert durations.seconds_in("4w") == 4 * 7 * 86400
    assert durations.seconds_in(" 52w ") == 52 * 7 * 86400
    with pytest.raises(ValueError, match="7x"):
        durations.seconds_in("7x")


def test_the_analytics_window_reads_ages_with_the_same_units() -> None:
    now = datetime(2026, 12, 8, tzinfo=UTC)
    assert parse_window("4w", "12h", now) == (now - timedelta(weeks=4), now - timedelta(hours=12))
    with pytest.raises(ValueError, match=r"since '7x': give a date .* or an age \(7d, 12h, 4w\)"):
        parse_window("7x", None, now)
