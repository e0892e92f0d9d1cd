"""Markdown structure shared by the markdown-based parsers: front matter, headings, sections, checklists."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count, repeat
from typing import Any, NamedTuple, cast

import yaml

from quarterdeck.errors import Problem
from quarterdeck.stories import records

__all__ = [
    "CHECKBOX",
    "HEADING",
    "Block",
    "FrontMatter",
    "Line",
    "checklist",
    "criteria",
    "front_matter",
    "heading",
    "headings",
    "numbered",
    "split_lines",
    "split_sections",
    "text_of",
    "verification_commands",
    "yaml_problem",
]

#: ``## Title`` (levels 1–6), outside fenced code.
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HEADING_START = re.compile(r"(#{1,6})\s+(.*)", re.DOTALL)
#: ``- [ ] text`` / ``* [x] text`` / ``1. [ ] text`` with its indent, mark and text.
CHECKBOX = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+\[([ xX~-]?)\]\s*(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_NUMBERED = re.compile(r"^\s*(?:\*\*)?(?:AC[-\s]?)?(\d+[a-z]?)(?:\*\*)?\s*[.):]\s*(?:\*\*)?\s*(.+)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.+)$")
_AC_REFS = re.compile(r"\(\s*AC\s*[:#]?\s*([^)]*)\)", re.IGNORECASE)
_BACKTICKS = re.compile(r"`([^`]+)`")
_SPACES = re.compile(r"\s+")
_AC_SPLIT = re.compile(r"[\s,#&]+|\band\b")
_new_line = tuple.__new__  # Line(n, text, fenced) without the Python-level __new__


class Line(NamedTuple):
    """One line of a file with its 1-based number and whether it sits inside fenced code.

    A named tuple rather than a dataclass: files are cut into thousands of these, and a tuple is the
    cheapest immutable record to build.
    """

    number: int
    text: str
    fenced: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """A heading and the lines under it up to the next heading of the same or a higher level."""

    title: str
    level: int
    line: int
    body: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """YAML front matter: its mapping (empty if none) and the line where the body starts."""

    data: dict[str, Any]
    body_start: int
    problem: Problem | None = None


def split_lines(text: str, start: int = 1) -> list[Line]:
    """Number the lines of ``text`` from ``start`` and mark the ones inside fenced code blocks."""
    if "```" not in text and "~~~" not in text:
        return cast(list[Line], list(map(_new_line, repeat(Line), zip(count(start), text.splitlines(), repeat(False)))))
    out: list[Line] = []
    fence: str | None = None
    for number, raw in enumerate(text.splitlines(), start):
        match = _FENCE.match(raw) if "```" in raw or "~~~" in raw else None
        if fence is None and match:
            fence = match.group(1)
            out.append(Line(number, raw, True))
        elif fence is not None:
            out.append(Line(number, raw, True))
            if match and match.group(1) == fence:
                fence = None
        else:
            out.append(Line(number, raw))
    return out


def yaml_problem(path: str, exc: yaml.YAMLError, offset: int = 0, what: str = "YAML") -> Problem:
    """Turn a PyYAML error into ``path:line: invalid YAML: … (column c)``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return Problem(path, offset + 1, f"invalid {what}: {problem}")
    return Problem(path, offset + mark.line + 1, f"invalid {what}: {problem} (column {mark.column + 1})")


def front_matter(lines: Sequence[Line], path: str) -> FrontMatter:
    """Read ``---`` YAML front matter at the top of a markdown file, if any."""
    if not lines or lines[0].text.strip() != "---":
        return FrontMatter({}, 1)
    for i in range(1, len(lines)):
        if lines[i].text.strip() in ("---", "..."):
            source = "\n".join(line.text for line in lines[1:i])
            try:
                data = yaml.safe_load(source)
            except yaml.YAMLError as exc:
                return FrontMatter({}, lines[i].number + 1, yaml_problem(path, exc, offset=1, what="front matter"))
            except RecursionError:
                return FrontMatter({}, lines[i].number + 1, Problem(path, 2, "invalid front matter: nested too deeply"))
            if not isinstance(data, dict):
                return FrontMatter({}, 1)
            return FrontMatter({str(k): v for k, v in data.items()}, lines[i].number + 1)
    return FrontMatter({}, 1)


@functools.lru_cache(maxsize=4096)
def heading(text: str) -> tuple[int, str] | None:
    """``(level, title)`` exactly as :data:`HEADING` matches them, or None; several times faster.

    The title is what is left once trailing whitespace, closing ``#``s and whitespace again are
    stripped (the shortest title the pattern's lazy group allows), and holds no newline (``.``).
    Cached: the same headings (``## Status``, ``## Story``…) recur in every story of a folder.
    """
    match = _HEADING_START.match(text)
    if match is None:
        return None
    title = match.group(2).rstrip().rstrip("#").rstrip()
    return None if "\n" in title else (len(match.group(1)), title)


def headings(lines: Sequence[Line]) -> Iterator[tuple[int, str, int]]:
    """Yield ``(level, title, line)`` for every heading outside fenced code."""
    for line in lines:
        if not line.fenced and line.text.startswith("#"):
            found = heading(line.text)
            if found:
                yield found[0], found[1], line.number


def split_sections(lines: Sequence[Line], level: int) -> tuple[tuple[Line, ...], list[Block]]:
    """Split lines at headings of ``level`` or higher: the preamble and one block per heading."""
    marks = [
        (index, found)
        for index, line in enumerate(lines)
        if line.text.startswith("#") and not line.fenced and (found := heading(line.text)) and found[0] <= level
    ]
    if not marks:
        return tuple(lines), []
    blocks: list[Block] = []
    for n, (index, (depth, title)) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(lines)
        blocks.append(Block(title, depth, lines[index].number, tuple(lines[index + 1 : end])))
    return tuple(lines[: marks[0][0]]), blocks


def text_of(lines: Sequence[Line]) -> str:
    """The lines joined back into text, without leading or trailing blank lines."""
    return "\n".join(line.text for line in lines).strip("\n")


def numbered(lines: Sequence[Line]) -> list[records.Criterion]:
    """Numbered items (``1.``, ``1:``, ``AC1:``), continuation lines folded in; bullets when unnumbered."""
    items: list[records.Criterion] = []
    bullets: list[records.Criterion] = []
    for line in lines:
        if line.fenced or not line.text.strip():
            continue
        match = _NUMBERED.match(line.text)
        if match and not line.text.startswith((" ", "\t")):
            items.append(records.Criterion(match.group(1), _clean(match.group(2)), line.number))
            continue
        bullet = _BULLET.match(line.text)
        if bullet and not line.text.startswith((" ", "\t")):
            bullets.append(records.Criterion(str(len(bullets) + 1), _clean(bullet.group(1)), line.number))
            continue
        target = items if items else bullets
        if target:
            last = target[-1]
            target[-1] = records.Criterion(last.id, f"{last.text} {_clean(line.text)}", last.line)
    return items or bullets


def criteria(lines: Sequence[Line]) -> list[records.Criterion]:
    """Acceptance criteria: numbered items, or Given/When/Then scenarios (each ``Given`` starts one)."""
    found = numbered(lines)
    if found:
        return found
    scenarios: list[records.Criterion] = []
    for line in lines:
        text = _clean(line.text.lstrip("-*+ \t"))
        if line.fenced or not text:
            continue
        if text.lower().startswith("given") or not scenarios:
            scenarios.append(records.Criterion(str(len(scenarios) + 1), text, line.number))
        else:
            last = scenarios[-1]
            scenarios[-1] = records.Criterion(last.id, f"{last.text} {text}", last.line)
    return scenarios


def checklist(lines: Sequence[Line]) -> list[records.SubTask]:
    """Checkbox items as a tree by indentation, with ``(AC: 1, 3)`` references pulled out."""
    roots: list[records.SubTask] = []
    stack: list[tuple[int, list[records.SubTask], records.SubTask]] = []
    pending: dict[int, list[records.SubTask]] = {}
    for line in lines:
        if line.fenced:
            continue
        match = CHECKBOX.match(line.text)
        if not match:
            continue
        indent = len(match.group(1).expandtabs(4))
        text = match.group(3).strip()
        refs = _AC_REFS.search(text)
        ac = tuple(r for r in _AC_SPLIT.split(refs.group(1)) if r) if refs else ()
        item = records.SubTask(text, match.group(2) in ("x", "X"), line.number, ac)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        siblings = stack[-1][1] if stack else roots
        siblings.append(item)
        children: list[records.SubTask] = []
        pending[id(item)] = children
        stack.append((indent, children, item))
    return [_freeze(item, pending) for item in roots]


def _freeze(item: records.SubTask, pending: dict[int, list[records.SubTask]]) -> records.SubTask:
    kids = pending.get(id(item), [])
    if not kids:
        return item
    return records.SubTask(item.text, item.done, item.line, item.ac_refs, tuple(_freeze(k, pending) for k in kids))


def verification_commands(lines: Sequence[Line]) -> list[str]:
    """Commands from a Verification section: fenced code lines, else backticked spans in bullets."""
    fenced = [
        line.text.strip().removeprefix("$ ")
        for line in lines
        if line.fenced and line.text.strip() and not _FENCE.match(line.text) and not line.text.strip().startswith("#")
    ]
    if fenced:
        return fenced
    out: list[str] = []
    for line in lines:
        if _BULLET.match(line.text) or line.text.lstrip().startswith(("**", "`")):
            span = _BACKTICKS.search(line.text)
            if span:
                out.append(span.group(1).strip())
    return out


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace("**", "")).strip()
