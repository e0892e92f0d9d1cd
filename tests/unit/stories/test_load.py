"""``load_plan`` over every fixture: the expected DAG, the skipped files, and the exact problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck import stories
from quarterdeck.domain import plans
from quarterdeck.errors import CycleError, PlanError

EXPECTED = {
    "bmad-v4": [["1.2"], ["1.3"], ["2.1"], ["2.3"]],
    "bmad-v6": [["1.2"], ["1.3"], ["2.1"]],
    "bmad-spec": [["2"], ["3-2"]],
    "speckit": [["T002", "T003"], ["T004"], ["T005", "T006"], ["T007"], ["T008"]],
    "kiro": [["2.1"], ["2.2"], ["3"], ["4"]],
    "taskmaster-tagged": [["2", "4"], ["3"]],
    "taskmaster-legacy": [["1"], ["2"], ["3"]],
    "github": [["gh-12", "gh-3"], ["gh-14"]],
    "markdown": [
        ["migrate", "frontend.build-the-assets"],
        ["backend.seed-reference-data"],
        ["frontend.publish-to-the-cdn"],
        ["go-live.flip-the-dns"],
    ],
    "planfile/plan.yaml": [["build"], ["test"], ["publish"]],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_format_plans_into_the_expected_levels(fixtures: Path, name: str) -> None:
    loaded = stories.load_plan(fixtures / name)
    assert plans.levels(loaded.plan) == EXPECTED[name]
    assert plans.validate(loaded.plan) is loaded.plan


def test_bmad_v4_statuses_skips_and_criteria(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "bmad-v4")
    by_id = loaded.plan.by_id()
    assert {t: loaded.status_of(t) for t in by_id} == {
        "1.2": "ready",
        "1.3": "review",
        "2.1": "in_progress",
        "2.3": "draft",
    }
    assert by_id["2.1"].depends_on == ("1.2", "1.3")  # explicit 1.2 (1.1 is done) plus the previous story
    assert by_id["1.3"].verify == ("pytest tests/test_reset.py", "ruff check src")
    assert [c.id for c in by_id["1.3"].acceptance_criteria] == ["1", "2"]
    root = fixtures / "bmad-v4" / "docs"
    assert [(Path(s.path), s.reason) for s in loaded.skipped] == [
        (root / "prd/epic-2-profiles.md", "not a story: 2 Story headings (an epic or PRD file)"),
        (root / "stories/1.1.context.xml", "not a story file (.xml)"),
        (root / "stories/1.2.user-signup.md.bak", "not a story file (.bak)"),
        (root / "stories/sprint-summary.md", "not a story: markdown with no story heading, status or task list"),
    ]
    prompt = by_id["2.3"].prompt
    assert "1. Each email type can be switched off." in prompt
    assert "- [ ] Settings table (AC: 1)" in prompt
    assert "## Rollout\n\nShip behind the `notifications_v2` flag." in prompt


def test_explicit_policy_keeps_only_written_dependencies(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "bmad-v4", deps="explicit")
    assert {t.id: t.depends_on for t in loaded.plan.tasks} == {"1.2": (), "1.3": (), "2.1": ("1.2",), "2.3": ("2.1",)}


def test_sequential_policy_can_be_asked_of_unordered_formats(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "taskmaster-legacy", deps="sequential")
    assert plans.levels(loaded.plan) == [["1"], ["2"], ["3"]]
    loaded = stories.load_plan(fixtures / "markdown", deps="sequential")
    assert len(plans.levels(loaded.plan)) == 5


def test_sprint_status_wins_over_the_story_file(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "bmad-v6")
    assert loaded.status_of("1.2") == "review"  # the file says in-progress, sprint-status.yaml says review
    assert loaded.status_of("2.1") == "draft"


def test_manifest_orders_spec_files_and_adds_unwritten_stories(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "bmad-spec")
    two, three = loaded.plan.tasks
    assert (two.title, loaded.status_of("2")) == ("Send invoice email", "review")
    assert next(c.text for c in two.acceptance_criteria).startswith("Given an invoice, when it is sent")
    assert "Use the existing mailer" in two.prompt
    assert (three.title, loaded.status_of("3-2"), three.depends_on) == ("Payment webhook", "draft", ("2",))


def test_duplicate_id_in_an_archive_names_both_paths(fixtures: Path) -> None:
    root = fixtures / "bmad-archive" / "stories"
    with pytest.raises(PlanError) as caught:
        stories.load_plan(fixtures / "bmad-archive")
    assert [str(p) for p in caught.value.problems] == [
        f"{root}/archive/1.1.story.md:1: duplicate story id '1.1': also at {root}/1.1.setup-repo.md:1"
    ]


def test_malformed_folder_reports_every_problem_in_one_pass(fixtures: Path) -> None:
    root = fixtures / "malformed"
    with pytest.raises(PlanError) as caught:
        stories.load_plan(root)
    assert [str(p) for p in caught.value.problems] == [
        f"{root}/stories/3.3.story.md:1: dependency cycle: 3.3 → 3.4 → 3.3",
        f"{root}/stories/4.1.story.md:5: unknown status 'Finished' (see the status table)",
        f"{root}/stories/4.2.story.md:7: 4.2 depends on unknown story '9.9'",
        f"{root}/stories/4.3.story.md:7: not UTF-8: byte 0xe9 at column 4",
        f"{root}/stories/sprint-status.yaml:4: invalid YAML: did not find expected ',' or ']' (column 1)",
        f"{root}/tasks/tasks.json:4: invalid JSON: Expecting ',' delimiter (column 51)",
    ]


def test_a_cycle_alone(tmp_path: Path) -> None:
    (tmp_path / "1.1.story.md").write_text("# Story 1.1: A\n\nStatus: draft\n\nDepends on: Story 1.2\n")
    (tmp_path / "1.2.story.md").write_text("# Story 1.2: B\n\nStatus: draft\n")
    with pytest.raises(PlanError) as caught:
        stories.load_plan(tmp_path)
    assert [p.message for p in caught.value.problems] == ["dependency cycle: 1.1 → 1.2 → 1.1"]
    assert not isinstance(caught.value, CycleError) or caught.value.cycle


def test_done_items_are_not_scheduled_and_satisfy_dependencies(tmp_path: Path) -> None:
    (tmp_path / "1.1.story.md").write_text("# Story 1.1: A\n\nStatus: Done\n")
    (tmp_path / "1.2.story.md").write_text("# Story 1.2: B\n\nStatus: Approved\n\n**Depends On:** Story 1.1\n")
    loaded = stories.load_plan(tmp_path)
    assert [(t.id, t.depends_on) for t in loaded.plan.tasks] == [("1.2", ())]


def test_a_single_story_file(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "bmad-v4/docs/stories/1.2.user-signup.md")
    assert [(t.id, t.depends_on) for t in loaded.plan.tasks] == [("1.2", ())]


def test_a_single_story_file_still_checks_its_references(fixtures: Path) -> None:
    path = fixtures / "bmad-v4/docs/stories/2.3.story.md"
    with pytest.raises(PlanError) as caught:
        stories.load_plan(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:25: 2.3 depends on unknown story '2.2'",
        f"{path}:25: 2.3 depends on unknown story '2.1'",
    ]


def test_a_single_checklist_file_is_planned_even_beside_nothing(fixtures: Path) -> None:
    loaded = stories.load_plan(fixtures / "speckit/specs/001-photo-albums/checklists/requirements.md")
    assert [t.id for t in loaded.plan.tasks] == ["specification-qualit.requirements-are-testable"]


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        stories.load_plan(tmp_path / "nope")
    assert [str(p) for p in caught.value.problems] == [f"{tmp_path}/nope: no such file or folder"]


def test_prompt_template_override(fixtures: Path, tmp_path: Path) -> None:
    template = tmp_path / "prompt.txt"
    template.write_text("Do $id ($title).\nCriteria:\n$acceptance_criteria\n")
    loaded = stories.load_plan(fixtures / "bmad-v4", prompt_template=template)
    assert loaded.plan.by_id()["1.3"].prompt.startswith("Do 1.3 (Password reset).\nCriteria:\n1. Given a registered")


def test_prompt_template_with_an_unknown_placeholder(fixtures: Path, tmp_path: Path) -> None:
    template = tmp_path / "prompt.txt"
    template.write_text("Do $id.\n\n$nonsense\n")
    with pytest.raises(PlanError) as caught:
        stories.load_plan(fixtures / "bmad-v4", prompt_template=template)
    assert str(caught.value.problems[0]).startswith(f"{template}:3: unknown placeholder $nonsense (known: ")


def test_unknown_policy_is_refused(fixtures: Path) -> None:
    with pytest.raises(PlanError, match="unknown policy 'loose'"):
        stories.load_plan(fixtures / "bmad-v4", deps="loose")
