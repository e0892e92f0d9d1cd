"""A markdown story body split into its parts: statement, criteria, sub-tasks, notes, verification, the rest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from quarterdeck.stories import deps, markup, records

__all__ = ["Parts", "parse_body"]

_STATEMENT = ("story", "user story", "intent", "description", "summary", "problem")
_CRITERIA = ("acceptance criteria", "acceptance criteria (acs)", "acceptance scenarios", "definition of done")
_TASKS = ("tasks / subtasks", "tasks/subtasks", "tasks", "subtasks", "tasks & acceptance", "tasks and acceptance")
_NOTES = ("dev notes", "dev technical guidance", "design notes", "technical notes", "implementation notes")
_VERIFY = ("verification", "verify", "verification commands", "how to verify")
#: Known sections that record past work rather than describe it; they stay out of the prompt.
_OMIT = ("status", "change log", "dev agent record", "story progress notes", "spec change log", "review triage log")
_LABEL_LINE = re.compile(r"^\s*\*\*([^*]+?)\*\*\s*:?\s*$")


@dataclass(frozen=True, slots=True)
class Parts:
    """What a story body says, section by section."""

    statement: str
    acceptance_criteria: tuple[records.Criterion, ...]
    subtasks: tuple[records.SubTask, ...]
    dev_notes: str
    verify: tuple[str, ...]
    sections: tuple[records.Section, ...]
    depends_on: tuple[records.DepRef, ...]


def parse_body(
    lines: Sequence[markup.Line], extract: deps.Extractor, *, preamble: str = "statement", level: int = 2
) -> Parts:
    """Split ``lines`` at headings of ``level`` and read each known section; keep unknown ones verbatim.

    ``preamble`` says what the text before the first heading is: the ``statement`` or a kept ``Header``.
    Checkbox items and dependency fields in the preamble are read either way.
    """
    head, blocks = markup.split_sections(lines, level)
    statement: list[str] = []
    criteria: list[records.Criterion] = []
    subtasks: list[records.SubTask] = list(markup.checklist(head))
    notes: list[str] = []
    verify: list[str] = []
    kept: list[records.Section] = []
    refs: list[records.DepRef] = deps.explicit_refs(lines, extract)
    if markup.text_of(head).strip():
        if preamble == "statement":
            statement.append(markup.text_of(head))
        else:
            kept.append(records.Section(preamble, markup.text_of(head), head[0].number))
    for block in blocks:
        name = block.title.strip().strip("*_ ").rstrip(":").lower()
        if deps.section_refs(block, extract) is not None:
            continue  # a whole "## Dependencies" section: read by heading_refs above
        if name in _STATEMENT:
            statement.append(markup.text_of(block.body))
        elif name in _CRITERIA:
            criteria.extend(markup.criteria(block.body))
        elif name in _TASKS:
            subtasks.extend(markup.checklist(block.body))
            criteria.extend(_labelled_criteria(block.body))
        elif name in _NOTES:
            notes.append(markup.text_of(block.body))
        elif name in _VERIFY:
            verify.extend(markup.verification_commands(block.body))
        elif name.startswith(_OMIT):
            continue
        elif markup.text_of(block.body).strip():
            kept.append(records.Section(block.title, markup.text_of(block.body), block.line))
    return Parts(
        statement="\n\n".join(s for s in statement if s),
        acceptance_criteria=tuple(criteria),
        subtasks=tuple(subtasks),
        dev_notes="\n\n".join(n for n in notes if n),
        verify=tuple(verify),
        sections=tuple(kept),
        depends_on=_dedupe(refs),
    )


def _labelled_criteria(lines: Sequence[markup.Line]) -> list[records.Criterion]:
    """The ``**Acceptance Criteria:**`` list inside a current-main ``## Tasks & Acceptance`` section."""
    out: list[markup.Line] = []
    inside = False
    for line in lines:
        label = _LABEL_LINE.match(line.text)
        if label:
            inside = label.group(1).strip().rstrip(":").lower() == "acceptance criteria"
            continue
        if inside:
            out.append(line)
    return markup.criteria(out) if out else []


def _dedupe(refs: Sequence[records.DepRef]) -> tuple[records.DepRef, ...]:
    seen: set[str] = set()
    out: list[records.DepRef] = []
    for ref in refs:
        if ref.ref not in seen:
            seen.add(ref.ref)
            out.append(ref)
    return tuple(out)
