"""The agent prompt for a story: one documented ``string.Template`` over its record, which users can override."""

from __future__ import annotations

import functools
import re
from string import Template

from quarterdeck.errors import PlanError, Problem
from quarterdeck.stories import records

__all__ = ["DEFAULT_TEMPLATE", "PLACEHOLDERS", "check_template", "render", "values"]

#: The default prompt.  Headings whose section comes out empty are dropped after substitution.
DEFAULT_TEMPLATE = """\
# $id: $title

(From $source. Meet every acceptance criterion; leave work that belongs to other stories alone.)

$statement

## Acceptance criteria

$acceptance_criteria

## Tasks

$subtasks

## Dev notes

$dev_notes

## Verification

$verify

$sections
"""

#: Every placeholder a template may use, with what it expands to.
PLACEHOLDERS = {
    "id": "the story id as written (1.2, T001, #12)",
    "task_id": "the plan's ref-safe id (1.2, T001, gh-12)",
    "title": "the title",
    "format": "the input format (bmad, speckit, kiro, taskmaster, github, markdown, plan)",
    "status": "the normalised status",
    "source": "path:line where the story starts",
    "statement": "the story statement (As a … I want … so that …, or the description)",
    "acceptance_criteria": "the acceptance criteria, one per line, numbered as written (1. …)",
    "subtasks": "the sub-tasks as a checklist, nested, with (AC: …) references",
    "dev_notes": "the dev notes, verbatim",
    "sections": "every unrecognised section, verbatim, each under its own ## heading",
    "verify": "the verification commands, one per line",
    "depends_on": "the ids this story waits for, comma-separated",
}

_DEFAULT = Template(DEFAULT_TEMPLATE)
_HEADING = re.compile(r"(?m)^(?=#{2,6} |\$sections[ \t]*$)")
_BLANK_LINES = re.compile(r"\n{3,}")


def check_template(text: str, path: str) -> Template:
    """Compile a user's template, rejecting placeholders that do not exist.

    Raises:
        PlanError: ``path:line: unknown placeholder $name`` for each one.
    """
    template = Template(text)
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for name in Template(line).get_identifiers():
            if name not in PLACEHOLDERS:
                problems.append(
                    Problem(path, number, f"unknown placeholder ${name} (known: {', '.join(sorted(PLACEHOLDERS))})")
                )
    if not template.is_valid():
        problems.append(Problem(path, 0, "invalid placeholder syntax (write $$ for a literal $)"))
    if problems:
        raise PlanError(problems)
    return template


def _subtasks(items: tuple[records.SubTask, ...], depth: int = 0) -> list[str]:
    out: list[str] = []
    for item in items:
        out.append(f"{'  ' * depth}- [{'x' if item.done else ' '}] {item.text}")
        out.extend(_subtasks(item.children, depth + 1))
    return out


def values(record: records.Record, depends_on: tuple[str, ...] = ()) -> dict[str, str]:
    """What each placeholder expands to for ``record``."""
    return {
        "id": record.id,
        "task_id": record.safe_id,
        "title": record.title,
        "format": record.format,
        "status": record.status,
        "source": f"{record.source.path}:{record.source.line}",
        "statement": record.statement,
        "acceptance_criteria": "\n".join(f"{c.id}. {c.text}" for c in record.acceptance_criteria),
        "subtasks": "\n".join(_subtasks(record.subtasks)),
        "dev_notes": record.dev_notes,
        "sections": "\n\n".join(f"## {s.title}\n\n{s.text}" for s in record.sections),
        "verify": "\n".join(record.verify),
        "depends_on": ", ".join(depends_on),
    }


#: Compiled template text: parallel tuples of placeholder names and the text each piece gives when the
#: name has no value.  Literal text has the name "" (never a placeholder), so it always gives itself.
_Pieces = tuple[tuple[str, ...], tuple[str, ...]]


@functools.lru_cache(maxsize=8)
def _chunks(pattern: re.Pattern[str], delimiter: str, text: str) -> tuple[tuple[_Pieces, _Pieces | None], ...]:
    """The template cut at its ``##`` headings, compiled.

    Each chunk comes with the part to test for emptiness (its lines after the heading; None when the
    chunk is always kept).  Chunks end at a line end, so no placeholder spans two of them and filling
    chunk by chunk is filling the whole.
    """
    out: list[tuple[_Pieces, _Pieces | None]] = []
    for chunk in _HEADING.split(text):
        _, _, rest = chunk.partition("\n")
        test = _compile(pattern, delimiter, rest) if chunk.startswith("#") and rest.strip() else None
        out.append((_compile(pattern, delimiter, chunk), test))
    return tuple(out)


def _compile(pattern: re.Pattern[str], delimiter: str, text: str) -> _Pieces:
    """``text`` as pieces that :func:`_fill` joins exactly as ``Template(text).safe_substitute`` would."""
    names: list[str] = []
    texts: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        names.append("")
        texts.append(text[last : match.start()])
        name = match.group("named") or match.group("braced")
        escaped = match.group("escaped") is not None
        names.append(name or "")
        texts.append(delimiter if name is None and escaped else match.group())
        last = match.end()
    names.append("")
    texts.append(text[last:])
    return tuple(names), tuple(texts)


def _fill(pieces: _Pieces, filled: dict[str, str]) -> str:
    return "".join(map(filled.get, *pieces))


def render(record: records.Record, template: Template | None = None, depends_on: tuple[str, ...] = ()) -> str:
    """The prompt for ``record``; a template heading whose placeholders all come out empty is left out."""
    filled = values(record, depends_on)
    template = template or _DEFAULT
    text = "".join(
        _fill(chunk, filled)
        for chunk, test in _chunks(template.pattern, template.delimiter, template.template)
        if test is None or _fill(test, filled).strip()
    )
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"
