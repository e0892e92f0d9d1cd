"""Arbitrary text fed to every parser: the only exception that may escape is Quarterdeck's own."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quarterdeck import stories
from quarterdeck.errors import QuarterdeckError
from quarterdeck.stories import (
    bmad,
    detect,
    github,
    kiro,
    manifest,
    markdown,
    planfile,
    records,
    speckit,
    sprintstatus,
    taskmaster,
)

_FRAGMENTS = [
    "# Story 1.2: T\n",
    "## Status\n",
    "Status: ",
    "---\n",
    "status: done\n",
    "- [ ] ",
    "- [x] T001 [P] ",
    "1. ",
    "1.1 ",
    "_Depends: 1_\n",
    "**Depends On:** Story 1.1\n",
    "```\n",
    "(id: a)",
    "(depends on: a)",
    "development_status:\n",
    "  1-1-a: ",
    "- id: ",
    '{"tasks": [',
    '{"id": 1, "title": "x", "dependencies": [',
    '"number": 1',
    "]}",
    "\n",
    "  ",
    "\t",
    "#",
]
markdownish = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=20)), max_size=30).map("".join)
anything = st.one_of(st.text(), markdownish)

PARSERS: list[Callable[[str, str], object]] = [
    bmad.parse,
    speckit.parse,
    kiro.parse,
    markdown.parse,
    taskmaster.parse,
    github.parse,
    sprintstatus.parse,
    manifest.parse,
    detect.detect,
]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda f: f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=anything)
def test_parsers_never_raise_foreign_exceptions(parse: Callable[[str, str], object], text: str) -> None:
    for path in ("tasks.md", "tasks.json", "sprint-status.yaml"):
        try:
            result = parse(text, path)
        except QuarterdeckError:
            continue
        assert isinstance(result, records.Parsed | detect.Detection) or result is not None


@settings(max_examples=150, deadline=None)
@given(text=anything)
def test_plan_file_parser_raises_only_plan_errors(text: str) -> None:
    for path in ("plan.yaml", "plan.json"):
        with contextlib.suppress(QuarterdeckError):
            planfile.parse_plan(text, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
task_like = st.fixed_dictionaries(
    {"id": json_values, "title": json_values},
    optional={
        "status": json_values,
        "dependencies": json_values,
        "subtasks": json_values,
        "body": json_values,
        "labels": json_values,
        "state": json_values,
        "stateReason": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(tasks=st.lists(task_like, max_size=5), tag=st.booleans())
def test_json_shaped_like_taskmaster_or_github(tasks: list[dict[str, object]], tag: bool) -> None:
    data: object = {"master": {"tasks": tasks}} if tag else {"tasks": tasks}
    for parse, value in ((taskmaster.parse, data), (github.parse, [{**t, "number": t["id"]} for t in tasks])):
        with contextlib.suppress(QuarterdeckError):
            parse(json.dumps(value), "x.json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.tuples(st.sampled_from(["a.md", "b.md", "tasks.json", "s.yaml", "c.md"]), anything), max_size=4)
)
def test_load_plan_on_arbitrary_folders_raises_only_plan_errors(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[str, str]]
) -> None:
    root = tmp_path_factory.mktemp("stories")
    for name, text in files:
        (root / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(QuarterdeckError):
        stories.load_plan(root)


def test_fixture_folder_still_exists() -> None:
    assert (Path(__file__).resolve().parents[2] / "fixtures" / "stories" / "bmad-v4").is_dir()
