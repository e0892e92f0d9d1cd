"""The normalised story record every input format is parsed into."""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.domain import plans
from quarterdeck.errors import Problem

__all__ = ["Criterion", "DepRef", "Parsed", "Record", "Section", "SubTask"]


@dataclass(frozen=True, slots=True)
class Criterion:
    """One acceptance criterion, numbered as its author numbered it, with the line it is on."""

    id: str
    text: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class SubTask:
    """One checklist item under a story (``- [ ] Task 1 (AC: 1, 3)``), with its own sub-items."""

    text: str
    done: bool
    line: int = 0
    ac_refs: tuple[str, ...] = ()
    children: tuple[SubTask, ...] = ()


@dataclass(frozen=True, slots=True)
class DepRef:
    """An explicit reference to another story, by its display id, and the line that wrote it."""

    ref: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Section:
    """A section the parser did not interpret, kept verbatim for the agent's prompt."""

    title: str
    text: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    """One task as written in any format, before it becomes a ``plans.TaskSpec``.

    ``id`` is the id as the author wrote it (``1.2``, ``T001``, ``#12``); ``task_id`` is the
    ref-safe id the plan uses (``1.2``, ``T001``, ``gh-12``).  ``chain`` names the ordered sequence
    the record belongs to (empty when the format has no meaningful order) and ``order`` its place in
    it; the sequential dependency policy links records along their chain.
    """

    id: str
    title: str
    format: str
    source: plans.SourceRef
    task_id: str = ""
    status: str = "ready"
    status_raw: str = ""
    status_line: int = 0
    statement: str = ""
    acceptance_criteria: tuple[Criterion, ...] = ()
    subtasks: tuple[SubTask, ...] = ()
    depends_on: tuple[DepRef, ...] = ()
    verify: tuple[str, ...] = ()
    dev_notes: str = ""
    sections: tuple[Section, ...] = ()
    group: str = ""
    chain: str = ""
    order: tuple[tuple[int, str], ...] = ()
    parallel: bool = False
    spec: plans.TaskSpec | None = None

    @property
    def safe_id(self) -> str:
        """The id the plan uses: ``task_id`` when the format set one, else the display id."""
        return self.task_id or self.id


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a parser made of one file: its records, the problems found, or why it is not a story."""

    records: tuple[Record, ...] = ()
    problems: tuple[Problem, ...] = ()
    skip: str = ""
    extra: dict[str, object] = field(default_factory=dict)
