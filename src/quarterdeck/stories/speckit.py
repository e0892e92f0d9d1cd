"""spec-kit ``tasks.md``: one ``- [ ] T001 [P] [US1] …`` line per task, grouped under phase headings."""

from __future__ import annotations

import re

from quarterdeck.domain import plans
from quarterdeck.errors import Problem
from quarterdeck.stories import markup, records, statuses

__all__ = ["FORMAT", "TASK_LINE", "looks_like_tasks", "parse", "task_refs"]

FORMAT = "speckit"

#: ``- [ ] T001 [P] [US1] Description (depends on T003)``
TASK_LINE = re.compile(r"^(\s*)[-*+]\s+\[([^\]]?)\]\s+(T\d{3,})\b:?\s*((?:\[[^\]]*\]\s*)*)(.*)$")
_DEPENDS = re.compile(
    r"\(?\s*\b(?:depends\s+on|after|blocked\s+by|requires)\s*:?\s*((?:T\d{3,}[\s,&]*(?:and\s+)?)+)\)?", re.IGNORECASE
)
_REF = re.compile(r"\bT\d{3,}\b")
_TASK_ANYWHERE = re.compile(r"(?m)^\s*[-*+]\s+\[[ xX]\]\s+T\d{3,}\b")


def task_refs(text: str) -> list[str]:
    """Task ids (``T012``) in a piece of text."""
    return _REF.findall(text)


def looks_like_tasks(text: str) -> bool:
    """True when at least one line is a spec-kit task (``- [ ] T001 …``)."""
    return _TASK_ANYWHERE.search(text) is not None


def parse(text: str, path: str) -> records.Parsed:
    """One record per task line; the phase heading is its group and file order its place in the chain."""
    out: list[records.Record] = []
    problems: list[Problem] = []
    phase = ""
    for line in markup.split_lines(text):
        if line.fenced:
            continue
        heading = markup.HEADING.match(line.text) if line.text.startswith("#") else None
        if heading:
            phase = heading.group(2)
            continue
        match = TASK_LINE.match(line.text)
        if not match:
            continue
        mark, task_id, tags, description = match.group(2), match.group(3), match.group(4), match.group(5).strip()
        status = statuses.checkbox_status(mark)
        if status is None:
            problems.append(Problem(path, line.number, f"unknown status {'[' + mark + ']'!r} for {task_id}"))
            status = "ready"
        labels = re.findall(r"\[([^\]]*)\]", tags)
        refs = [
            records.DepRef(ref, line.number) for m in _DEPENDS.finditer(description) for ref in task_refs(m.group(1))
        ]
        title = _DEPENDS.sub("", description).strip() or task_id
        story = next((label for label in labels if re.fullmatch(r"US\d+", label)), "")
        statement = description + (f"\n\nPart of user story {story} in spec.md." if story else "")
        out.append(
            records.Record(
                id=task_id,
                title=title,
                format=FORMAT,
                source=plans.SourceRef(path, line.number),
                status=status,
                status_raw=f"[{mark}]",
                status_line=line.number,
                statement=statement,
                depends_on=tuple(refs),
                group=phase,
                chain=path,
                order=((len(out), ""),),
                parallel="P" in labels,
            )
        )
    if not out:
        return records.Parsed(skip="not a story: no spec-kit task lines")
    return records.Parsed(records=tuple(out), problems=tuple(problems))
