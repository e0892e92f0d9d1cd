"""spec-kit, Kiro, Taskmaster, GitHub, checklists, sprint-status.yaml and stories.yaml parsers."""

from __future__ import annotations

import json

from quarterdeck.stories import github, kiro, manifest, markdown, speckit, sprintstatus, taskmaster


def test_speckit_lines_phases_parallel_and_inline_dependencies() -> None:
    text = (
        "## Phase 1: Setup\n\n- [X] T001 Create structure\n- [ ] T002 [P] Lint config\n\n"
        "## Phase 2: US1\n\n- [ ] T003 [P] [US1] Service in src/s.py (depends on T001, T002)\n- [ ] TXXX placeholder\n"
    )
    parsed = speckit.parse(text, "tasks.md")
    assert parsed.problems == ()
    one, two, three = parsed.records
    assert (one.id, one.status, one.group, one.parallel) == ("T001", "done", "Phase 1: Setup", False)
    assert (two.status, two.parallel) == ("ready", True)
    assert three.title == "Service in src/s.py"
    assert [(d.ref, d.line) for d in three.depends_on] == [("T001", 8), ("T002", 8)]
    assert "user story US1" in three.statement


def test_kiro_leaves_are_tasks_and_parent_references_expand() -> None:
    text = (
        "# Implementation Plan\n\n- [ ] 1. Models\n- [x] 1.1 Invoice\n  - _Requirements: 1.1_\n"
        "- [ ]* 1.2 Property tests\n\n- [ ] 2. Run\n  - Nightly\n  - _Depends: 1_\n"
    )
    parsed = kiro.parse(text, "tasks.md")
    assert [(r.id, r.status, r.group) for r in parsed.records] == [
        ("1.1", "done", "1"),
        ("1.2", "ready", "1"),
        ("2", "ready", "2"),
    ]
    assert [(d.ref, d.line) for d in parsed.records[2].depends_on] == [("1.1", 10), ("1.2", 10)]
    assert parsed.records[0].sections[0].text == "1.1"
    assert "Nightly" in parsed.records[2].statement


def test_taskmaster_tagged_layout_folds_subtasks_and_maps_dotted_references() -> None:
    data = {
        "master": {
            "tasks": [
                {"id": 1, "title": "A", "status": "done", "dependencies": []},
                {
                    "id": 2,
                    "title": "B",
                    "status": "pending",
                    "dependencies": [1],
                    "subtasks": [{"id": 1, "title": "B1", "status": "done", "dependencies": ["1.1"]}],
                },
                {"id": 3, "title": "C", "status": "pending", "dependencies": ["2.1"]},
            ]
        }
    }
    parsed = taskmaster.parse(json.dumps(data, indent=2), "tasks.json")
    a, b, c = parsed.records
    assert (a.id, a.status, b.id, c.id) == ("1", "done", "2", "3")
    assert [d.ref for d in b.depends_on] == ["1"]
    assert [(s.text, s.done) for s in b.subtasks] == [("B1", True)]
    assert [d.ref for d in c.depends_on] == ["2"]
    assert a.source.line == 4


def test_taskmaster_several_tags_are_namespaced() -> None:
    task = {"id": 1, "title": "A", "status": "pending", "dependencies": []}
    data = {"master": {"tasks": [task]}, "feature-x": {"tasks": [task]}}
    ids = [(r.id, r.safe_id) for r in taskmaster.parse(json.dumps(data), "t.json").records]
    assert ids == [("1", "1"), ("feature-x/1", "feature-x-1")]


def test_taskmaster_unknown_status_names_the_task() -> None:
    data = {"tasks": [{"id": 7, "title": "A", "status": "someday", "dependencies": []}]}
    parsed = taskmaster.parse(json.dumps(data, indent=2), "t.json")
    assert [str(p) for p in parsed.problems] == ["t.json:3: unknown status 'someday' for task 7 (see the status table)"]


def test_github_issues() -> None:
    issues = [
        {
            "number": 5,
            "title": "A",
            "body": "Depends on #4\nBlocked by #3\nsee #2, x/y#1",
            "labels": [],
            "state": "OPEN",
        },
        {"number": 4, "title": "B", "body": "", "labels": [{"name": "status: review"}], "state": "OPEN"},
        {"number": 3, "title": "C", "body": None, "labels": [], "state": "CLOSED"},
    ]
    parsed = github.parse(json.dumps(issues), "issues.json")
    five, four, three = parsed.records
    assert (five.id, five.safe_id, [d.ref for d in five.depends_on]) == ("#5", "gh-5", ["#4", "#3"])
    assert (four.status, three.status) == ("review", "done")


def test_markdown_checklist_ids_groups_and_dependencies() -> None:
    text = (
        "# Plan\n\n## Backend\n\n- [ ] Run migrations (id: migrate)\n  - [ ] backup\n"
        "- [x] Seed data (depends on: migrate)\n\n## Frontend\n\n- [ ] Build\n  Depends on: migrate\n"
    )
    parsed = markdown.parse(text, "plan.md")
    assert [(r.id, r.status, r.group) for r in parsed.records] == [
        ("migrate", "ready", "Backend"),
        ("backend.seed-data", "done", "Backend"),
        ("frontend.build", "ready", "Frontend"),
    ]
    assert parsed.records[0].subtasks[0].text == "backup"
    assert [d.ref for d in parsed.records[1].depends_on] == ["migrate"]
    assert [(d.ref, d.line) for d in parsed.records[2].depends_on] == [("migrate", 12)]


def test_markdown_derived_ids_are_stable_and_bounded() -> None:
    long = "word " * 40
    first = markdown.derived_id(["A heading"], long)
    assert first == markdown.derived_id(["A heading"], long)
    assert len(first) <= 64


def test_sprint_status_keys_and_unknown_values() -> None:
    text = "development_status:\n  epic-1: in-progress\n  1-1-a: done\n  2-6a-b: drafted\n  1-2-c: someday\n"
    parsed = sprintstatus.parse(text, "sprint-status.yaml")
    assert {k: (v.status, v.line) for k, v in parsed.stories.items()} == {"1.1": ("done", 3), "2.6a": ("draft", 4)}
    assert [str(p) for p in parsed.problems] == [
        "sprint-status.yaml:5: unknown status 'someday' for '1-2-c' (see the status table)"
    ]


def test_manifest_entries_in_order() -> None:
    text = '- id: "1"\n  title: A\n  description: first\n- id: "3-2"\n  title: B\n- title: no id\n'
    parsed = manifest.parse(text, "stories.yaml")
    assert [(e.id, e.title, e.line) for e in parsed.entries] == [("1", "A", 1), ("3-2", "B", 4)]
    assert [str(p) for p in parsed.problems] == ["stories.yaml:6: each story needs an 'id' and a 'title'"]
