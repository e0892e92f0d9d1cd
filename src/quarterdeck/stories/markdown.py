"""Plain markdown checklists: headings as groups, top-level ``- [ ]`` items as tasks, nested items as sub-tasks."""

from __future__ import annotations

import hashlib
import re

from quarterdeck.domain import ids, plans
from quarterdeck.errors import Problem
from quarterdeck.stories import deps, markup, records, statuses

__all__ = ["FORMAT", "derived_id", "looks_like_checklist", "parse"]

FORMAT = "markdown"

_EXPLICIT_ID = re.compile(r"\(\s*id\s*:\s*([^)\s]+)\s*\)", re.IGNORECASE)
_INLINE_DEPS = re.compile(r"\(\s*(?:depends\s+on|blocked\s+by|requires|dependencies)\s*:\s*([^)]*)\)", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX = 64


def _refs(text: str) -> list[str]:
    return [t.rstrip(".") for t in _TOKEN.findall(text)]


def looks_like_checklist(text: str) -> bool:
    """True when at least one line is a checkbox item."""
    return re.search(r"(?m)^\s*[-*+]\s+\[[ xX~-]\]\s+\S", text) is not None


def derived_id(groups: list[str], text: str) -> str:
    """A stable id from the heading path and the item text: ``setup.install-the-toolchain``."""
    parts = [ids.slug(g, limit=20) for g in groups if g.strip()] + [ids.slug(text, limit=40)]
    out = ".".join(parts)
    if len(out) > _MAX:
        digest = hashlib.sha1(out.encode()).hexdigest()[:6]
        out = out[: _MAX - 7].rstrip(".-") + "-" + digest
    return out


def parse(text: str, path: str) -> records.Parsed:
    """Each top-level checkbox item is a task, with the lines indented under it as its statement."""
    lines = markup.split_lines(text)
    stack: list[tuple[int, str]] = []
    items: list[tuple[list[str], markup.Line, list[markup.Line]]] = []
    indent0: int | None = None
    for line in lines:
        if line.fenced:
            if items:
                items[-1][2].append(line)
            continue
        heading = markup.HEADING.match(line.text) if line.text.startswith("#") else None
        if heading:
            level = len(heading.group(1))
            stack = [(lv, t) for lv, t in stack if lv < level] + [(level, heading.group(2))]
            indent0 = None
            items.append(([], markup.Line(0, ""), []))  # a heading closes the item before it
            continue
        match = markup.CHECKBOX.match(line.text)
        indent = len(line.text) - len(line.text.lstrip())
        if match and (indent0 is None or indent <= indent0):
            indent0 = indent
            items.append(([t for lv, t in stack if lv > 1 or len(stack) == 1], line, []))
        elif items and items[-1][1].number and (not line.text.strip() or indent > (indent0 or 0)):
            items[-1][2].append(line)
    out: list[records.Record] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for groups, line, details in items:
        if not line.number:
            continue
        match = markup.CHECKBOX.match(line.text)
        assert match is not None
        mark, item_text = match.group(2), match.group(3).strip()
        explicit = _EXPLICIT_ID.search(item_text)
        inline = list(_INLINE_DEPS.finditer(item_text))
        title = _INLINE_DEPS.sub("", _EXPLICIT_ID.sub("", item_text)).strip() or item_text
        item_id = explicit.group(1) if explicit else derived_id(groups, title)
        if not explicit and item_id in seen:
            seen[item_id] += 1
            item_id = f"{item_id}-{seen[item_id]}"
        seen.setdefault(item_id, 1)
        status = statuses.checkbox_status(mark)
        if status is None:
            problems.append(Problem(path, line.number, f"unknown status {'[' + mark + ']'!r} for {item_id!r}"))
            status = "ready"
        refs = [records.DepRef(r, line.number) for m in inline for r in _refs(m.group(1))]
        refs += deps.labelled_refs(details, _refs)
        sub = markup.checklist(details)
        statement = "\n".join(
            d.text.strip() for d in details if not markup.CHECKBOX.match(d.text) and not deps.labelled_refs([d], _refs)
        ).strip()
        out.append(
            records.Record(
                id=item_id,
                title=title,
                format=FORMAT,
                source=plans.SourceRef(path, line.number),
                status=status,
                status_raw=f"[{mark}]",
                status_line=line.number,
                statement="\n\n".join(p for p in (title, statement) if p),
                subtasks=tuple(sub),
                depends_on=tuple(refs),
                group=" / ".join(groups),
                chain=path,
                order=((len(out), ""),),
            )
        )
    if not out:
        return records.Parsed(skip="not a story: no checklist items")
    return records.Parsed(records=tuple(out), problems=tuple(problems))
