"""The one status table."""

from __future__ import annotations

import pytest

from quarterdeck.stories import statuses


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Draft", "draft"),
        ("drafted", "draft"),
        ("backlog", "draft"),
        ("Approved", "ready"),
        ("Ready", "ready"),
        ("ready-for-dev", "ready"),
        ("InProgress", "in_progress"),
        ("In Progress", "in_progress"),
        ("in-progress", "in_progress"),
        ("contexted", "in_progress"),
        ("Review", "review"),
        ("Ready for Review", "review"),
        ("in-review", "review"),
        ("Done", "done"),
        ("Completed", "done"),
        ("Ready for Done", "done"),
        ("✅ Done", "done"),
        ("✅ DONE (Completed 2025-10-27 after QA)", "done"),
        ("**Done**", "done"),
        ("pending", "ready"),
        ("deferred", "draft"),
        ("cancelled", "cancelled"),
    ],
)
def test_known_values_map_through_the_table(raw: str, expected: str) -> None:
    assert statuses.normalise(raw) == expected


@pytest.mark.parametrize("raw", ["Finished", "", "Done - merged", "maybe"])
def test_unknown_values_are_none(raw: str) -> None:
    assert statuses.normalise(raw) is None


def test_every_table_value_is_a_normalised_status() -> None:
    assert set(statuses.TABLE.values()) <= set(statuses.STATUSES)


def test_checkbox_marks() -> None:
    assert [statuses.checkbox_status(m) for m in (" ", "x", "X", "-", "?")] == [
        "ready",
        "done",
        "done",
        "in_progress",
        None,
    ]
