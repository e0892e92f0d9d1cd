"""A misspelt field is named with what was meant; a file that looks like stories is never passed over."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck import stories
from quarterdeck.errors import PlanError


def _problems(path: Path) -> list[str]:
    with pytest.raises(PlanError) as refused:
        stories.load_plan(path)
    return [str(p) for p in refused.value.problems]


def test_a_misspelt_task_field_in_a_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "tasks.yaml").write_text("name: x\ntasks:\n  - id: a\n    titel: A\n")
    problems = _problems(tmp_path)
    assert f"{tmp_path / 'tasks.yaml'}:4: unknown task field 'titel' (did you mean 'title'?)" in problems
    assert any("missing 'title'" in p for p in problems)


def test_one_misspelt_task_among_good_ones_is_named_not_the_file_skipped(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\ntasks:\n  - id: a\n    title: A\n  - id: b\n    titel: B\n    depnds_on: [a]\n")
    problems = _problems(plan)
    assert f"{plan}:6: unknown task field 'titel' (did you mean 'title'?)" in problems
    assert f"{plan}:7: unknown task field 'depnds_on' (did you mean 'depends_on'?)" in problems


def test_misspelt_top_level_fields_and_defaults_are_named(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\ndefaults:\n  runtme: shell\ntasks:\n  - id: a\n    title: A\ntaks: []\n")
    problems = _problems(plan)
    assert f"{plan}:3: unknown default 'runtme' (did you mean 'runtime'?)" in problems
    assert f"{plan}:7: unknown field 'taks' (did you mean 'tasks'?)" in problems


def test_a_manifest_entry_without_a_title_is_an_error_not_a_skipped_file(tmp_path: Path) -> None:
    (tmp_path / "stories.yaml").write_text("- id: s1\n  title: First\n- id: s2\n  titel: Second\n")
    problems = _problems(tmp_path)
    assert any("stories.yaml:3: each story needs an 'id' and a 'title'" in p for p in problems), problems
