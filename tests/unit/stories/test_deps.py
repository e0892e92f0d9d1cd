"""Labelled-field extraction and the sequential policy."""

from __future__ import annotations

from quarterdeck.domain import plans
from quarterdeck.stories import deps, markup, records


def _lines(text: str) -> list[markup.Line]:
    return markup.split_lines(text)


def test_labels_with_a_colon_and_lists_under_them() -> None:
    text = "Requires: Story 1.1\n**Dependencies:**\n- Story 2.1\n- Story 2.2\n\nStory 3.3 in prose\n"
    assert [(d.ref, d.line) for d in deps.labelled_refs(_lines(text), deps.bmad_refs)] == [
        ("1.1", 1),
        ("2.1", 3),
        ("2.2", 4),
    ]


def test_labels_without_a_colon_need_a_reference_right_after() -> None:
    text = "Depends on Story 4.4\nRequires careful work, see Story 5.5\n"
    assert [d.ref for d in deps.labelled_refs(_lines(text), deps.bmad_refs)] == ["4.4"]


def test_natural_order() -> None:
    assert sorted(["1.10", "1.2", "2.1", "1.2A"], key=deps.natural_key) == ["1.2", "1.2A", "1.10", "2.1"]


def _record(rid: str, status: str = "ready", parallel: bool = False, group: str = "") -> records.Record:
    return records.Record(
        id=rid,
        title=rid,
        format="bmad",
        source=plans.SourceRef("x"),
        status=status,
        parallel=parallel,
        group=group,
        chain="c",
        order=deps.natural_key(rid),
    )


def test_sequential_crosses_epics_and_skips_done_stories() -> None:
    chain = [_record("2.1"), _record("1.2", "done"), _record("1.1"), _record("1.3"), _record("2.2")]
    assert deps.implied(chain) == {"1.1": (), "1.2": ("1.1",), "1.3": ("1.1",), "2.1": ("1.3",), "2.2": ("2.1",)}


def test_parallel_runs_share_a_base_and_the_next_waits_for_all() -> None:
    chain = [
        _record("1", group="a"),
        _record("2", parallel=True, group="a"),
        _record("3", parallel=True, group="a"),
        _record("4", group="a"),
    ]
    assert deps.implied(chain) == {"1": (), "2": ("1",), "3": ("1",), "4": ("2", "3")}
