"""BMAD story files (v3/v4 ``## Status``, v6 inline ``Status:``, current front matter) parsed into records."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import PurePath

from quarterdeck.domain import plans
from quarterdeck.errors import Problem
from quarterdeck.stories import body as bodyparts
from quarterdeck.stories import deps, markup, records, statuses

__all__ = ["FORMAT", "STORY_HEADING", "looks_like_story", "parse", "story_id_from_filename"]

FORMAT = "bmad"

_ID = r"\d+[A-Za-z]?(?:\.\d+[A-Za-z]?){1,2}"
#: ``Story 1.2: Title`` (also ``Story 5.2A - Title``, ``Story 3.0.1 Title``) as a heading's text.
STORY_HEADING = re.compile(rf"^Story\s+({_ID})\b\s*[:.\-–—]?\s*(.*)$", re.IGNORECASE)
_EPIC_HEADING = re.compile(r"^Epic\s+[0-9A-Za-z]+\b", re.IGNORECASE)
_STATUS_HEADING = re.compile(r"^[*_]{0,2}Status[*_]{0,2}\s*(?::\s*[*_]{0,2}(.*))?$", re.IGNORECASE)
_STATUS_LINE = re.compile(r"^\s*(?:[-*+]\s+)?[*_]{0,2}Status[*_]{0,2}\s*:\s*[*_]{0,2}\s*(.+?)\s*$", re.IGNORECASE)
_STORY_ANYWHERE = re.compile(r"(?im)^#{1,4}\s+Story\b")
_STATUS_KEY = re.compile(r"(?im)^status\s*:")
_FILE_DOTTED = re.compile(r"^(\d+[A-Za-z]?)\.(\d+[A-Za-z]?)\.")
_FILE_DASHED = re.compile(r"^(\d+[A-Za-z]?)-(\d+[A-Za-z]?)-[A-Za-z]")


def story_id_from_filename(path: str) -> str:
    """``1.2.story.md``/``1.2.slug.md`` → ``1.2``; ``1-2-slug.md`` → ``1.2``; otherwise empty."""
    name = PurePath(path).name
    match = _FILE_DOTTED.match(name) or _FILE_DASHED.match(name)
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def looks_like_story(text: str) -> bool:
    """Cheap content check: a ``Story N.M`` heading, or front matter holding a ``status``."""
    head = text[:4000]
    return bool(_STORY_ANYWHERE.search(head)) or (head.startswith("---") and bool(_STATUS_KEY.search(head)))


def parse(text: str, path: str, *, manifest_ids: Collection[str] = ()) -> records.Parsed:
    """Parse one BMAD story file; files that are not stories come back with ``skip`` set."""
    lines = markup.split_lines(text)
    fm = markup.front_matter(lines, path)
    if fm.problem is not None:
        return records.Parsed(problems=(fm.problem,))
    body = lines[fm.body_start - 1 :]  # lines are numbered 1, 2, … so the body is a slice
    heads = list(markup.headings(body))
    story_heads = [(lvl, t, n) for lvl, t, n in heads if STORY_HEADING.match(t)]
    if len(story_heads) > 1:
        return records.Parsed(skip=f"not a story: {len(story_heads)} Story headings (an epic or PRD file)")
    if heads and _EPIC_HEADING.match(heads[0][1]) and not story_heads:
        return records.Parsed(skip="not a story: an epic file")
    title, title_line, story_id = _title(heads, fm.data, path, manifest_ids)
    status_raw, status_line = _status(lines, body, fm.body_start, fm.data)
    if not status_raw:
        if story_heads:
            return records.Parsed(skip="not a story: a Story heading but no Status")
        return records.Parsed(skip="not a story: no Story heading or Status")
    if not story_id:
        return records.Parsed(skip="not a story: no story id in its heading, front matter or file name")
    problems: list[Problem] = []
    status = statuses.normalise(status_raw)
    if status is None:
        problems.append(Problem(path, status_line, f"unknown status {status_raw!r} (see the status table)"))
    first_h2 = next((n for level, _, n in heads if level >= 2), 1 << 30)
    record = _record(body, first_h2, story_id, title, title_line, path, (status or "ready", status_raw, status_line))
    return records.Parsed(records=(record,), problems=tuple(problems))


def _title(
    heads: Sequence[tuple[int, str, int]], data: dict[str, object], path: str, manifest_ids: Collection[str]
) -> tuple[str, int, str]:
    for level, text, number in heads:
        match = STORY_HEADING.match(text)
        if match and level <= 4:
            return match.group(2).strip() or f"Story {match.group(1)}", number, match.group(1)
    first = next(((t, n) for lvl, t, n in heads if lvl == 1), None)
    title = str(data.get("title") or "") or (first[0] if first else PurePath(path).stem)
    title = re.sub(r"^Story\s*:?\s*", "", title, flags=re.IGNORECASE).strip() or PurePath(path).stem
    line = first[1] if first else 1
    explicit = data.get("id")
    if isinstance(explicit, str | int) and not isinstance(explicit, bool) and str(explicit).strip():
        return title, line, str(explicit).strip()
    stem = PurePath(path).name.removesuffix(".md")
    for known in sorted(manifest_ids, key=len, reverse=True):
        if stem == known or stem.startswith(f"{known}-"):
            return title, line, known
    return title, line, story_id_from_filename(path)


def _status(
    lines: Sequence[markup.Line], body: Sequence[markup.Line], body_start: int, data: dict[str, object]
) -> tuple[str, int]:
    """The raw status from front matter, a ``## Status`` heading (inline or next line) or a ``Status:`` line."""
    if data.get("status") is not None:
        where = next((x.number for x in lines if x.number < body_start and x.text.startswith("status")), 1)
        return str(data["status"]).strip(), where
    seen_h2 = False
    for i, line in enumerate(body):
        if line.fenced:
            continue
        found = markup.heading(line.text) if line.text.startswith("#") else None
        if found:
            status = _STATUS_HEADING.match(found[1])
            if status:
                if (status.group(1) or "").strip():
                    return _clean(status.group(1)), line.number
                for after in body[i + 1 :]:
                    if after.text.strip():
                        if after.text.startswith("#"):
                            break
                        return _clean(after.text), after.number
                return "", 0
            seen_h2 = seen_h2 or found[0] >= 2
            continue
        if not seen_h2:
            inline = _STATUS_LINE.match(line.text)
            if inline:
                return _clean(inline.group(1)), line.number
    return "", 0


def _clean(value: str) -> str:
    return value.strip().lstrip("-*+ ").strip().strip("*_`").strip()


def _record(
    body: Sequence[markup.Line],
    first_h2: int,
    story_id: str,
    title: str,
    title_line: int,
    path: str,
    status: tuple[str, str, int],
) -> records.Record:
    rest = [
        line
        for line in body
        if line.number != title_line and not (line.number < first_h2 and _STATUS_LINE.match(line.text))
    ]
    parts = bodyparts.parse_body(rest, deps.bmad_refs, preamble="Header")
    epic = story_id.split(".")[0] if "." in story_id else ""
    return records.Record(
        id=story_id,
        title=title,
        format=FORMAT,
        source=plans.SourceRef(path, title_line),
        status=status[0],
        status_raw=status[1],
        status_line=status[2],
        statement=parts.statement,
        acceptance_criteria=parts.acceptance_criteria,
        subtasks=parts.subtasks,
        depends_on=parts.depends_on,
        verify=parts.verify,
        dev_notes=parts.dev_notes,
        sections=parts.sections,
        group=epic,
        chain=FORMAT,
        order=deps.natural_key(story_id),
    )
