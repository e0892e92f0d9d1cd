"""BMAD v6 ``sprint-status.yaml``: the status of each story key, overriding what the story file says."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from quarterdeck.errors import Problem
from quarterdeck.stories import documents, statuses

__all__ = ["SprintStatus", "StoryStatus", "looks_like_sprint_status", "parse"]

_STORY_KEY = re.compile(r"^(\d+[A-Za-z]?)-(\d+[A-Za-z]?)(?:-|$)")


@dataclass(frozen=True, slots=True)
class StoryStatus:
    """One story's entry: normalised status, the raw value and where it was written."""

    status: str
    raw: str
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class SprintStatus:
    """Story id (``1.2``) → its entry, in file order, plus any problems found."""

    stories: dict[str, StoryStatus]
    problems: tuple[Problem, ...] = ()


def looks_like_sprint_status(text: str) -> bool:
    """True when the text has a top-level ``development_status:`` key."""
    return re.search(r"(?m)^development_status\s*:", text) is not None


def parse(text: str, path: str) -> SprintStatus:
    """Read ``development_status``; ``epic-N`` and retrospective keys are ignored, unknown story statuses reported."""
    loaded = documents.load_yaml_node(text, path)
    if loaded.problem is not None:
        return SprintStatus({}, (loaded.problem,))
    section = dict(documents.mapping_items(loaded.value)).get("development_status")
    if not isinstance(section, yaml.MappingNode):
        line = section.start_mark.line + 1 if section is not None else 1
        return SprintStatus({}, (Problem(path, line, "'development_status' must be a mapping of story keys"),))
    stories: dict[str, StoryStatus] = {}
    problems: list[Problem] = []
    for key, node in documents.mapping_items(section):
        match = _STORY_KEY.match(key)
        if not match or key.startswith("epic-"):
            continue
        line = node.start_mark.line + 1
        raw = documents.scalar(node) or ""
        status = statuses.normalise(raw)
        if status is None:
            problems.append(Problem(path, line, f"unknown status {raw!r} for {key!r} (see the status table)"))
            continue
        stories[f"{match.group(1)}.{match.group(2)}"] = StoryStatus(status, raw, path, line)
    return SprintStatus(stories, tuple(problems))
