"""BMAD story files: statuses in four positions, ids, sections, labelled dependencies."""

from __future__ import annotations

import pytest

from quarterdeck.stories import bmad

V4 = """# Story 1.2: Sign-up

## Status

Approved

## Story

**As a** visitor,
**I want** an account,
**so that** I can save work.

## Acceptance Criteria

1. The form accepts an email.
2: Duplicates are rejected.

## Tasks / Subtasks

- [ ] Build the form (AC: 1)
  - [x] Validate input
- [ ] Reject duplicates (AC: 2, 3)

## Dev Notes

This requires Story 1.1 to be understood (prose, not a dependency).

## QA Results

Gate: CONCERNS
"""


def test_v4_story_is_read_whole() -> None:
    parsed = bmad.parse(V4, "docs/stories/1.2.sign-up.md")
    assert parsed.problems == ()
    assert parsed.skip == ""
    (record,) = parsed.records
    assert (record.id, record.title, record.status, record.status_raw, record.status_line) == (
        "1.2",
        "Sign-up",
        "ready",
        "Approved",
        5,
    )
    assert record.source.line == 1
    assert [(c.id, c.text, c.line) for c in record.acceptance_criteria] == [
        ("1", "The form accepts an email.", 15),
        ("2", "Duplicates are rejected.", 16),
    ]
    assert [(t.text, t.done, t.ac_refs) for t in record.subtasks] == [
        ("Build the form (AC: 1)", False, ("1",)),
        ("Reject duplicates (AC: 2, 3)", False, ("2", "3")),
    ]
    assert record.subtasks[0].children[0].text == "Validate input"
    assert record.subtasks[0].children[0].done
    assert record.statement.startswith("**As a** visitor")
    assert "requires Story 1.1" in record.dev_notes
    assert record.depends_on == ()
    assert [(s.title, s.text) for s in record.sections] == [("QA Results", "Gate: CONCERNS")]
    assert record.group == "1"


@pytest.mark.parametrize(
    ("text", "raw", "line"),
    [
        ("# Story 2.1: T\n\n## Status\n\nDone\n", "Done", 5),
        ("# Story 2.1: T\n\n## Status: InProgress\n", "InProgress", 3),
        ("# Story 2.1: T\n\nStatus: ready-for-dev\n\n## Story\n\nx\n", "ready-for-dev", 3),
        ("# Story 2.1: T\n\n- **Status:** ✅ Done (Completed 2025-10-27)\n", "✅ Done (Completed 2025-10-27)", 3),
        ("---\nowner: me\nstatus: in-review\n---\n# Story 2.1: T\n", "in-review", 3),
    ],
    ids=["heading-next-line", "heading-inline", "bare-line", "bold-bullet", "front-matter"],
)
def test_status_in_every_position(text: str, raw: str, line: int) -> None:
    (record,) = bmad.parse(text, "s.md").records
    assert (record.status_raw, record.status_line) == (raw, line)


def test_unknown_status_is_a_problem_with_its_line() -> None:
    parsed = bmad.parse("# Story 4.1: Index\n\n## Status\n\nFinished\n", "x/4.1.story.md")
    assert [str(p) for p in parsed.problems] == ["x/4.1.story.md:5: unknown status 'Finished' (see the status table)"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("docs/stories/1.2.story.md", "1.2"),
        ("docs/stories/1.2.some-slug.md", "1.2"),
        ("out/3-4-login-form.md", "3.4"),
        ("out/5-2A-split.md", "5.2A"),
        ("notes.md", ""),
    ],
)
def test_story_id_from_file_name(path: str, expected: str) -> None:
    assert bmad.story_id_from_filename(path) == expected


def test_brownfield_story_takes_its_id_from_the_file_name() -> None:
    (record,) = bmad.parse("# Story: Add export\n\n## Status: Draft\n", "docs/stories/7.3.add-export.md").records
    assert (record.id, record.title, record.status) == ("7.3", "Add export", "draft")


def test_letter_suffix_id() -> None:
    (record,) = bmad.parse("# Story 5.2A: Split\n\nStatus: review\n", "a.md").records
    assert record.id == "5.2A"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("# Epic 2 Profiles\n\n## Story 2.1 A\n\n## Story 2.2 B\n", "2 Story headings"),
        ("# Story 1.1: A\n\nno status here\n", "no Status"),
        ("# Notes\n\nStatus: draft\n", "no story id"),
    ],
)
def test_non_stories_are_skipped_with_a_reason(text: str, reason: str) -> None:
    parsed = bmad.parse(text, "notes.md")
    assert parsed.records == ()
    assert reason in parsed.skip


def test_dependencies_come_only_from_labelled_fields() -> None:
    text = """# Story 2.3: Settings

## Status

Draft

**Depends On:** Story 2.1 (accounts), Story 1.4

The design requires Story 9.9 in prose, which is ignored.

## Dev Notes

- **Dependencies:** Story 5.1A completion

### References

- Prerequisites: Stories 1.1 and 1.2

### Dependencies

- MUST be completed after: ✅ Story 2.2
"""
    (record,) = bmad.parse(text, "s.md").records
    assert [(d.ref, d.line) for d in record.depends_on] == [
        ("2.1", 7),
        ("1.4", 7),
        ("5.1A", 13),
        ("1.1", 17),
        ("1.2", 17),
        ("2.2", 21),
    ]


def test_given_when_then_criteria_group_by_scenario() -> None:
    text = """# Story 1.3: Reset

Status: review

## Acceptance Criteria

**Given** a known email
**When** I ask for a link
**Then** a link is sent

**Given** an unknown email
**When** I ask
**Then** the answer is the same
"""
    (record,) = bmad.parse(text, "s.md").records
    assert [(c.id, c.text) for c in record.acceptance_criteria] == [
        ("1", "Given a known email When I ask for a link Then a link is sent"),
        ("2", "Given an unknown email When I ask Then the answer is the same"),
    ]


def test_front_matter_spec_file_takes_its_id_from_the_manifest() -> None:
    text = "---\ntitle: Payment webhook\nstatus: ready-for-dev\n---\n\n## Intent\n\nMark invoices paid.\n"
    (record,) = bmad.parse(text, "stories/3-2-payment-webhook.md", manifest_ids={"3", "3-2"}).records
    assert (record.id, record.title, record.statement) == ("3-2", "Payment webhook", "Mark invoices paid.")


def test_fenced_code_is_not_read_as_structure() -> None:
    text = "# Story 1.1: A\n\n## Status\n\nDraft\n\n```\n## Status\nDone\n**Depends On:** Story 2.2\n```\n"
    (record,) = bmad.parse(text, "s.md").records
    assert record.status == "draft"
    assert record.depends_on == ()
