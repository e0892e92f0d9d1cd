"""Dependencies: explicit references from labelled fields, and the sequential/explicit policy for ordered formats."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from quarterdeck.stories import markup, records, statuses

__all__ = [
    "EXPLICIT",
    "LABELS",
    "POLICIES",
    "SEQUENTIAL",
    "bmad_refs",
    "explicit_refs",
    "heading_refs",
    "implied",
    "labelled_refs",
    "natural_key",
    "section_refs",
]

SEQUENTIAL = "sequential"
EXPLICIT = "explicit"
POLICIES = (SEQUENTIAL, EXPLICIT)

#: The field labels that introduce dependencies (case-insensitive).  Nothing else is read.
LABELS = (
    "depends on",
    "depends",
    "dependencies",
    "dependency",
    "prerequisites",
    "prerequisite",
    "blocked by",
    "requires",
)

_LABEL = re.compile(
    r"^\s*(?:[-*+]\s+|\d+[.)]\s+)?[*_]{0,2}\s*"
    r"(depends(?:\s+on)?|dependencies|dependency|prerequisites?|blocked\s+by|requires)"
    r"\s*[*_]{0,2}\s*(:)?\s*[*_]{0,2}\s*(.*)$",
    re.IGNORECASE,
)
_SECTION = re.compile(r"^(depends\s+on|dependencies|prerequisites?|blocked\s+by|requires)\s*:?$", re.IGNORECASE)
_LABEL_WORDS = ("depend", "prerequisite", "blocked", "requires")
_ANY_LABEL = re.compile("|".join(_LABEL_WORDS), re.IGNORECASE)
_STORY_ID = r"\d+[A-Za-z]?\.\d+[A-Za-z]?"
_STORY_LIST = re.compile(
    rf"\bStor(?:y|ies)\s+({_STORY_ID}(?:\s*(?:,|&|/|\band\b|\bor\b)\s*(?:Story\s+)?{_STORY_ID})*)", re.IGNORECASE
)
_ID = re.compile(_STORY_ID)
_NUMBER = re.compile(r"(\d+)|(\D+)")

Extractor = Callable[[str], list[str]]


def bmad_refs(text: str) -> list[str]:
    """Story references in BMAD style: ``Story 2.13``, ``Stories 5.1A and 5.2``."""
    return [ref for match in _STORY_LIST.finditer(text) for ref in _ID.findall(match.group(1))]


def labelled_refs(lines: Sequence[markup.Line], extract: Extractor) -> list[records.DepRef]:
    """References in labelled fields (``**Depends On:** Story 2.13``), including a list that follows the label.

    A label without a colon counts only when a reference follows it directly (``Depends on #12``),
    so prose such as "requires care" is never read.
    """
    return _labelled(lines, extract) if _mentions_a_label(lines) else []


def explicit_refs(lines: Sequence[markup.Line], extract: Extractor) -> list[records.DepRef]:
    """:func:`labelled_refs` then :func:`heading_refs`, with the cheap first look taken once for both."""
    if not _mentions_a_label(lines):
        return []
    return _labelled(lines, extract) + _under_headings(lines, extract)


def _labelled(lines: Sequence[markup.Line], extract: Extractor) -> list[records.DepRef]:
    out: list[records.DepRef] = []
    following = False
    for line in lines:
        if line.fenced:
            following = False
            continue
        match = _LABEL.match(line.text)
        if match:
            value = match.group(3)
            refs = extract(value)
            if match.group(2) or (refs and _starts_with_ref(value, refs[0])):
                out.extend(records.DepRef(ref, line.number) for ref in refs)
                following = bool(match.group(2)) and not value.strip(" *_")
                continue
        if following and line.text.lstrip().startswith(("-", "*", "+")):
            out.extend(records.DepRef(ref, line.number) for ref in extract(line.text))
            continue
        following = False
    return out


def section_refs(block: markup.Block, extract: Extractor) -> list[records.DepRef] | None:
    """Every reference under a ``### Dependencies``-style heading, or None if the heading is another."""
    if not _SECTION.match(block.title.strip().strip("*_ ")):
        return None
    return [records.DepRef(ref, line.number) for line in block.body if not line.fenced for ref in extract(line.text)]


def heading_refs(lines: Sequence[markup.Line], extract: Extractor) -> list[records.DepRef]:
    """Every reference under any ``### Dependencies``-style heading, up to the next heading as high."""
    return _under_headings(lines, extract) if _mentions_a_label(lines) else []


def _under_headings(lines: Sequence[markup.Line], extract: Extractor) -> list[records.DepRef]:
    out: list[records.DepRef] = []
    inside: int | None = None
    for line in lines:
        if line.fenced:
            continue
        heading = markup.heading(line.text) if line.text.startswith("#") else None
        if heading:
            level = heading[0]
            if inside is not None and level <= inside:
                inside = None
            if inside is None and _SECTION.match(heading[1].strip().strip("*_ ")):
                inside = level
            continue
        if inside is not None:
            out.extend(records.DepRef(ref, line.number) for ref in extract(line.text))
    return out


def _mentions_a_label(lines: Sequence[markup.Line]) -> bool:
    """A cheap first look: does any label word appear at all, in any case?

    ASCII text (nearly every story) is lower-cased and searched with ``in``, many times faster than the
    case-insensitive pattern; other text keeps the pattern, whose Unicode case folding ``lower`` lacks.
    """
    text = "\n".join([line.text for line in lines])
    if text.isascii():
        low = text.lower()
        return any(word in low for word in _LABEL_WORDS)
    return _ANY_LABEL.search(text) is not None


def _starts_with_ref(value: str, ref: str) -> bool:
    head = value.lstrip(" *_:").lower()
    return head.startswith((ref.lower(), "story", "stories", "#", "t0", "task")) or head[:1].isdigit()


def natural_key(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key that orders ``1.2`` before ``1.10`` and ``5.2`` before ``5.2A``."""
    return tuple((int(num), "") if num else (-1, other) for num, other in _NUMBER.findall(text))


def implied(chain: Sequence[records.Record]) -> dict[str, tuple[str, ...]]:
    """The sequential policy over one ordered chain: display id → the display ids it must wait for.

    Each record waits for the nearest earlier record that is still to be scheduled (done ones are
    satisfied), so BMAD's rule holds: story N.M after N.(M−1), and an epic's first story after the
    previous epic's last.  Consecutive ``parallel`` records in one group (spec-kit ``[P]``) share
    what they wait for, and the next record waits for all of them.
    """
    out: dict[str, tuple[str, ...]] = {}
    base: tuple[str, ...] = ()
    group: list[str] | None = None
    group_base: tuple[str, ...] = ()
    group_name: str | None = None
    for record in sorted(chain, key=lambda r: r.order):
        if group is not None and (not record.parallel or record.group != group_name):
            base = tuple(group) or base
            group = None
        if record.parallel:
            if group is None:
                group, group_base, group_name = [], base, record.group
            out[record.id] = group_base
            if record.status not in statuses.NOT_SCHEDULED:
                group.append(record.id)
            continue
        out[record.id] = base
        if record.status not in statuses.NOT_SCHEDULED:
            base = (record.id,)
    return out
