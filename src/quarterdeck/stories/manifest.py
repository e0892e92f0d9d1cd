"""BMAD's current ``stories.yaml``: the ordered list of story ids, titles and descriptions of a spec folder."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from quarterdeck.errors import Problem
from quarterdeck.stories import documents

__all__ = ["Entry", "Manifest", "looks_like_manifest", "parse"]

_FIELD = re.compile(r"(?m)^\s*-\s+id\s*:")


@dataclass(frozen=True, slots=True)
class Entry:
    """One story in list order: id, title, description, extra dev instructions and its line."""

    id: str
    title: str
    description: str
    invoke_dev_with: str
    line: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """The entries of one ``stories.yaml`` in execution order, plus any problems found."""

    path: str
    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...] = ()


def looks_like_manifest(text: str) -> bool:
    """True when the text is a YAML list whose items start with ``- id:``."""
    return _FIELD.search(text) is not None and not re.search(r"(?m)^tasks\s*:", text)


def parse(text: str, path: str) -> Manifest:
    """Read the list; every entry needs an ``id`` and a ``title``."""
    loaded = documents.load_yaml_node(text, path)
    if loaded.problem is not None:
        return Manifest(path, (), (loaded.problem,))
    root = loaded.value
    if not isinstance(root, yaml.SequenceNode):
        line = root.start_mark.line + 1 if root is not None else 1
        return Manifest(path, (), (Problem(path, line, "stories.yaml must be a list of stories"),))
    entries: list[Entry] = []
    problems: list[Problem] = []
    for item in root.value:
        line = item.start_mark.line + 1
        fields = {k: documents.scalar(v) for k, v in documents.mapping_items(item)}
        story_id, title = fields.get("id"), fields.get("title")
        if not story_id or not title:
            problems.append(Problem(path, line, "each story needs an 'id' and a 'title'"))
            continue
        entries.append(
            Entry(story_id, title, fields.get("description") or "", fields.get("invoke_dev_with") or "", line)
        )
    return Manifest(path, tuple(entries), tuple(problems))
