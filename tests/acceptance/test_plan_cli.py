"""``quarterdeck plan`` run as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "stories"
SCRIPT = Path(sys.executable).parent / "quarterdeck"


def _plan(*args: str, agent: str | None = "noop") -> subprocess.CompletedProcess[str]:
    chosen = ["--agent", agent] if agent else []
    return subprocess.run(
        [str(SCRIPT), "plan", *args, *chosen], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


def test_human_output_shows_levels_critical_path_and_skipped_files() -> None:
    result = _plan("tests/fixtures/stories/bmad-v4")
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "bmad-v4: 4 tasks to schedule"
    assert lines[1].split() == ["level", "id", "status", "title", "waits", "for"]
    assert [line.split()[:3] for line in lines[2:6]] == [
        ["0", "1.2", "ready"],
        ["1", "1.3", "review"],
        ["2", "2.1", "in_progress"],
        ["3", "2.3", "draft"],
    ]
    assert lines[6] == "critical path: 1.2 → 1.3 → 2.1 → 2.3"
    assert lines[7] == "skipped (4):"
    assert lines[8:] == [
        "  tests/fixtures/stories/bmad-v4/docs/prd/epic-2-profiles.md: "
        "not a story: 2 Story headings (an epic or PRD file)",
        "  tests/fixtures/stories/bmad-v4/docs/stories/1.1.context.xml: not a story file (.xml)",
        "  tests/fixtures/stories/bmad-v4/docs/stories/1.2.user-signup.md.bak: not a story file (.bak)",
        "  tests/fixtures/stories/bmad-v4/docs/stories/sprint-summary.md: "
        "not a story: markdown with no story heading, status or task list",
    ]


def test_json_has_exactly_the_documented_shape() -> None:
    result = _plan("tests/fixtures/stories/github", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["tasks", "levels", "critical_path", "skipped"]
    first = document["tasks"][0]
    assert list(first) == [
        "id", "title", "status", "depends_on", "acceptance_criteria", "verify", "estimate_s", "source"
    ]  # fmt: skip
    assert first == {
        "id": "gh-14",
        "title": "Export reports as CSV",
        "status": "ready",
        "depends_on": ["gh-12"],
        "acceptance_criteria": [
            {"id": "1", "text": "Every report has an Export button."},
            {"id": "2", "text": "The CSV opens in a spreadsheet without warnings."},
        ],
        "verify": [],
        "estimate_s": None,
        "source": {"path": "tests/fixtures/stories/github/issues.json", "line": 2},
    }
    assert document["levels"] == [["gh-12", "gh-3"], ["gh-14"]]
    assert document["critical_path"] == ["gh-12", "gh-14"]
    assert document["skipped"] == []


def test_estimates_are_shown_and_the_critical_path_is_the_longest_in_time(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: timed\n"
        "tasks:\n"
        "  - {id: setup, title: Setup, estimate: 30s}\n"
        "  - {id: docs, title: Docs, depends_on: [setup], estimate: 1h30m}\n"
        "  - {id: api, title: API, depends_on: [setup], estimate: 20m}\n"
        "  - {id: tests, title: Tests, depends_on: [api]}\n"
    )
    result = _plan(str(plan))
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[1] == ["level", "id", "status", "title", "waits", "for", "estimate"]
    shown = [(line[1], line[-1]) for line in lines[2:6]]
    assert shown == [("setup", "30s"), ("docs", "1h30m"), ("api", "20m"), ("tests", "—")]
    # tests counts as the median (20m): setup → api → tests is 40m30s, setup → docs 1h30m30s
    assert lines[6] == ["critical", "path:", "setup", "→", "docs", "(1h30m30s", "estimated)"]
    document = json.loads(_plan(str(plan), "--json").stdout)
    assert [t["estimate_s"] for t in document["tasks"]] == [30.0, 5400.0, 1200.0, None]


@pytest.mark.parametrize(
    ("path", "deps", "levels"),
    [
        ("bmad-v6", None, [["1.2"], ["1.3"], ["2.1"]]),
        ("bmad-v6", "explicit", [["1.2", "1.3", "2.1"]]),
        ("speckit", None, [["T002", "T003"], ["T004"], ["T005", "T006"], ["T007"], ["T008"]]),
        ("speckit", "explicit", [["T002", "T003", "T004", "T005", "T006"], ["T007", "T008"]]),
        ("kiro", None, [["2.1"], ["2.2"], ["3"], ["4"]]),
        ("taskmaster-tagged", None, [["2", "4"], ["3"]]),
        ("taskmaster-legacy", None, [["1"], ["2"], ["3"]]),
        (
            "markdown",
            "explicit",
            [
                ["migrate", "frontend.build-the-assets"],
                ["backend.seed-reference-data"],
                ["frontend.publish-to-the-cdn"],
                ["go-live.flip-the-dns"],
            ],
        ),
        ("bmad-spec", None, [["2"], ["3-2"]]),
        ("planfile/plan.yaml", None, [["build"], ["test"], ["publish"]]),
    ],
)
def test_each_format_prints_the_expected_dag(path: str, deps: str | None, levels: list[list[str]]) -> None:
    result = _plan(f"tests/fixtures/stories/{path}", "--json", *(["--deps", deps] if deps else []))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["levels"] == levels


def test_bad_input_exits_2_with_every_problem_and_no_traceback() -> None:
    result = _plan("tests/fixtures/stories/malformed")
    assert result.returncode == 2
    assert result.stdout == ""
    root = "tests/fixtures/stories/malformed"
    assert result.stderr.splitlines() == [
        f"{root}/stories/3.3.story.md:1: dependency cycle: 3.3 → 3.4 → 3.3",
        f"{root}/stories/4.1.story.md:5: unknown status 'Finished' (see the status table)",
        f"{root}/stories/4.2.story.md:7: 4.2 depends on unknown story '9.9'",
        f"{root}/stories/4.3.story.md:7: not UTF-8: byte 0xe9 at column 4",
        f"{root}/stories/sprint-status.yaml:4: invalid YAML: did not find expected ',' or ']' (column 1)",
        f"{root}/tasks/tasks.json:4: invalid JSON: Expecting ',' delimiter (column 51)",
    ]


def test_duplicate_in_archive_names_both_paths() -> None:
    result = _plan("tests/fixtures/stories/bmad-archive")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tests/fixtures/stories/bmad-archive/stories/archive/1.1.story.md:1: duplicate story id '1.1': "
        "also at tests/fixtures/stories/bmad-archive/stories/1.1.setup-repo.md:1"
    ]


def test_missing_path_and_bad_template(tmp_path: Path) -> None:
    result = _plan(str(tmp_path / "nope"))
    assert (result.returncode, result.stderr) == (2, f"{tmp_path}/nope: no such file or folder\n")
    template = tmp_path / "t.txt"
    template.write_text("$id $bogus\n")
    result = _plan("tests/fixtures/stories/kiro", "--prompt-template", str(template))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{template}:1: unknown placeholder $bogus")
    assert "Traceback" not in result.stderr
