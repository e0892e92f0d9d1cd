"""Kiro-style ``tasks.md``: numbered checkbox items (``- [ ] 1. Title``) with sub-items ``1.1`` and trailer lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from quarterdeck.domain import plans
from quarterdeck.errors import Problem
from quarterdeck.stories import deps, markup, records, statuses

__all__ = ["FORMAT", "ITEM", "looks_like_tasks", "parse"]

FORMAT = "kiro"

#: ``- [ ] 1. Title``, ``- [x] 2.3 Title``, ``- [ ]* 4.1 Optional title``
ITEM = re.compile(r"^(\s*)[-*+]\s+\[([^\]]?)\]\*?\s+(\d+(?:\.\d+)*)\.?\s+(.+)$")
_REQUIREMENTS = re.compile(r"^\s*[-*+]?\s*_?\s*Requirements?\s*:\s*(.*?)_?\s*$", re.IGNORECASE)
_NUM = re.compile(r"(?<![\d.])\d+(?:\.\d+)*")


@dataclass(slots=True)
class _Item:
    id: str
    title: str
    mark: str
    line: int
    details: list[markup.Line] = field(default_factory=list)


def looks_like_tasks(text: str) -> bool:
    """True when at least one line is a numbered checkbox item (``- [ ] 1. Title``)."""
    return re.search(r"(?m)^\s*[-*+]\s+\[[ xX~-]\]\*?\s+\d+(?:\.\d+)*\.?\s+\S", text) is not None


def _refs(text: str) -> list[str]:
    return _NUM.findall(text)


def parse(text: str, path: str) -> records.Parsed:
    """One record per leaf item; an item with sub-items becomes their group, and references to it mean all of them."""
    items: list[_Item] = []
    open_item = False  # a heading ends the previous item's details
    for line in markup.split_lines(text):
        match = ITEM.match(line.text) if not line.fenced else None
        if match:
            items.append(_Item(match.group(3), match.group(4).strip(), match.group(2), line.number))
            open_item = True
        elif not line.fenced and markup.HEADING.match(line.text):
            open_item = False
        elif open_item:
            items[-1].details.append(line)
    if not items:
        return records.Parsed(skip="not a story: no numbered checkbox items")
    parents = {i.id for i in items for other in items if other.id.startswith(i.id + ".")}
    leaves_of: dict[str, list[str]] = {}
    for item in items:
        if item.id not in parents:
            parts = item.id.split(".")
            for n in range(1, len(parts)):
                leaves_of.setdefault(".".join(parts[:n]), []).append(item.id)
    titles = {i.id: i.title for i in items}
    out: list[records.Record] = []
    problems: list[Problem] = []
    for item in items:
        if item.id in parents:
            continue
        status = statuses.checkbox_status(item.mark)
        if status is None:
            problems.append(Problem(path, item.line, f"unknown status {'[' + item.mark + ']'!r} for task {item.id}"))
            status = "ready"
        refs: list[records.DepRef] = []
        for ref in deps.labelled_refs(item.details, _refs):
            refs.extend(records.DepRef(leaf, ref.line) for leaf in leaves_of.get(ref.ref, [ref.ref]))
        requirements = [m.group(1).strip() for line in item.details if (m := _REQUIREMENTS.match(line.text))]
        detail = [
            line.text.strip()
            for line in item.details
            if line.text.strip() and not _REQUIREMENTS.match(line.text) and not deps.labelled_refs([line], _refs)
        ]
        parent = item.id.rsplit(".", 1)[0] if "." in item.id else ""
        sections = (records.Section("Requirements", ", ".join(requirements), item.line),) if requirements else ()
        out.append(
            records.Record(
                id=item.id,
                title=item.title,
                format=FORMAT,
                source=plans.SourceRef(path, item.line),
                status=status,
                status_raw=f"[{item.mark}]",
                status_line=item.line,
                statement="\n".join(
                    ([f"Part of {parent}. {titles[parent]}"] if parent in titles else []) + [item.title, *detail]
                ),
                depends_on=tuple(refs),
                sections=sections,
                group=parent or item.id,
                chain=path,
                order=deps.natural_key(item.id),
            )
        )
    return records.Parsed(records=tuple(out), problems=tuple(problems))
