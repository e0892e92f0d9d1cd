"""Format detection: which parser a file's content calls for, or why it is not a story (never by name alone)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml

from quarterdeck.errors import Problem
from quarterdeck.stories import bmad, github, kiro, markdown, markup, speckit, taskmaster

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "Detection",
    "detect",
    "has_story_extension",
    "looks_like_plan_data",
]

#: File name endings that may hold stories; every other file is skipped without being read.
EXTENSIONS = (".md", ".markdown", ".json", ".yaml", ".yml")

#: Every format, in the order detection tries them within a file type.
FORMATS = (
    "plan",
    "taskmaster",
    "github",
    "sprint-status",
    "manifest",
    "speckit",
    "bmad",
    "kiro",
    "markdown",
)

_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Detection:
    """The format a file holds (empty when none), why not, or the syntax problem that stopped detection."""

    format: str = ""
    reason: str = ""
    problem: Problem | None = None


def looks_like_plan_data(data: Any) -> bool:
    """A Quarterdeck plan: a mapping with ``name`` or ``defaults`` and a ``tasks`` list of ``{id, title, …}``.

    One task with a misspelt or missing field still makes it a plan: the plan parser then names the
    fault (``'titel'``, did you mean ``'title'``?) instead of the file being passed over as no story.
    """
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return (
        isinstance(tasks, list)
        and bool(tasks)
        and all(isinstance(t, dict) for t in tasks)
        and any("id" in t for t in tasks)
        and ("name" in data or "defaults" in data)
    )


def has_story_extension(path: str) -> bool:
    """True when the file name ends in one of :data:`EXTENSIONS`."""
    return path.lower().endswith(EXTENSIONS)


def detect(text: str, path: str) -> Detection:
    """Decide a file's format from its content; JSON and YAML are parsed to look inside."""
    suffix = PurePath(path).suffix.lower()
    if suffix == ".json":
        return _json(text, path)
    if suffix in (".yaml", ".yml"):
        return _yaml(text, path)
    if suffix in (".md", ".markdown"):
        return _markdown(text)
    return Detection(reason=f"not a story file ({suffix or 'no extension'})")


def _json(text: str, path: str) -> Detection:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Detection(problem=Problem(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})"))
    except RecursionError:
        return Detection(problem=Problem(path, 1, "invalid JSON: nested too deeply"))
    if looks_like_plan_data(data):
        return Detection("plan")
    if taskmaster.looks_like_tasks(data):
        return Detection("taskmaster")
    if github.looks_like_issues(data):
        return Detection("github")
    return Detection(reason="not a story: JSON in no known story format")


def _yaml(text: str, path: str) -> Detection:
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        return Detection(problem=markup.yaml_problem(path, exc))
    except RecursionError:
        return Detection(problem=Problem(path, 1, "invalid YAML: nested too deeply"))
    if isinstance(data, dict) and "development_status" in data:
        return Detection("sprint-status")
    if looks_like_plan_data(data):
        return Detection("plan")
    if (
        isinstance(data, list)
        and data
        and all(isinstance(e, dict) and "id" in e for e in data)
        and any("title" in e for e in data)
    ):  # one entry without a title is the manifest's error to name, not a reason to pass the file over
        return Detection("manifest")
    if taskmaster.looks_like_tasks(data):
        return Detection("taskmaster")
    return Detection(reason="not a story: YAML in no known story format")


def _markdown(text: str) -> Detection:
    if speckit.looks_like_tasks(text):
        return Detection("speckit")
    if bmad.looks_like_story(text):
        return Detection("bmad")
    if kiro.looks_like_tasks(text):
        return Detection("kiro")
    if markdown.looks_like_checklist(text):
        return Detection("markdown")
    return Detection(reason="not a story: markdown with no story heading, status or task list")
