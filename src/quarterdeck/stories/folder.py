"""Reading a file or a folder: every file read once, its format detected, parsed, and merged into one record list."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

from quarterdeck.domain import plans
from quarterdeck.errors import PlanError, Problem
from quarterdeck.stories import (
    bmad,
    detect,
    github,
    kiro,
    manifest,
    markdown,
    planfile,
    records,
    speckit,
    specs,
    sprintstatus,
    taskmaster,
)

__all__ = ["IGNORED_DIRS", "Intake", "Skipped", "read", "read_text"]

#: Folders never entered: tool state, not stories.
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".ruff_cache"})

_PARSERS = {
    "speckit": speckit.parse,
    "kiro": kiro.parse,
    "markdown": markdown.parse,
    "taskmaster": taskmaster.parse,
    "github": github.parse,
}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file in an input folder that is not a story, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class Intake:
    """Everything read from a path: the records in input order, the files passed over, the problems found."""

    records: list[records.Record] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_text(path: Path | str, shown: str) -> tuple[str | None, Problem | None]:
    """A file's text as UTF-8 (a BOM is dropped), or the problem that stops it being read."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        return None, Problem(shown, 0, f"cannot read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(shown, line, f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}")


def _files(root: Path) -> Iterator[str]:
    """Every file's path as ``str(Path(folder, name))`` spells it, without building a Path for each."""
    if not root.is_dir():
        yield str(root)
        return
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        base = str(Path(folder))
        prefix = "" if base == "." else base if base.endswith("/") else base + "/"
        for name in sorted(names):
            yield prefix + name


def read(root: Path) -> Intake:
    """Read every file under ``root`` (or ``root`` itself), reporting problems instead of raising them."""
    intake = Intake()
    if not root.exists():
        intake.problems.append(Problem(str(root), 0, "no such file or folder"))
        return intake
    texts: list[tuple[str, str, str]] = []  # (shown path, format, text)
    for shown in _files(root):
        if not detect.has_story_extension(shown):
            intake.skipped.append(Skipped(shown, f"not a story file ({PurePath(shown).suffix or 'no extension'})"))
            continue
        text, problem = read_text(shown, shown)
        if problem is not None or text is None:
            intake.problems.append(problem or Problem(shown, 0, "cannot read"))
            continue
        found = detect.detect(text, shown)
        if found.problem is not None:
            intake.problems.append(found.problem)
        elif not found.format:
            intake.skipped.append(Skipped(shown, found.reason))
        else:
            texts.append((shown, found.format, text))
    _parse_all(texts, intake, single=not root.is_dir())
    intake.skipped.sort(key=lambda s: s.path)
    return intake


def _parse_all(texts: list[tuple[str, str, str]], intake: Intake, *, single: bool) -> None:
    manifests = [manifest.parse(text, shown) for shown, fmt, text in texts if fmt == "manifest"]
    sprints = [sprintstatus.parse(text, shown) for shown, fmt, text in texts if fmt == "sprint-status"]
    manifest_ids = {e.id for m in manifests for e in m.entries}
    for m in manifests:
        intake.problems.extend(m.problems)
    for s in sprints:
        intake.problems.extend(s.problems)
    structured = any(fmt not in ("markdown", "manifest", "sprint-status") for _, fmt, _ in texts) or manifests
    for shown, fmt, text in texts:
        if fmt in ("manifest", "sprint-status"):
            continue
        if fmt == "markdown" and structured and not single:
            intake.skipped.append(Skipped(shown, "not a story: a checklist beside stories in another format"))
            continue
        if fmt == "plan":
            try:
                intake.records.extend(specs.from_plan(planfile.parse_plan(text, shown)))
            except PlanError as exc:
                intake.problems.extend(exc.problems)
            continue
        parsed = bmad.parse(text, shown, manifest_ids=manifest_ids) if fmt == "bmad" else _PARSERS[fmt](text, shown)
        intake.problems.extend(parsed.problems)
        if parsed.skip:
            intake.skipped.append(Skipped(shown, parsed.skip))
        intake.records.extend(parsed.records)
    intake.records[:] = _with_manifests(_with_sprint_status(intake.records, sprints), manifests)


def _with_sprint_status(items: list[records.Record], sprints: list[sprintstatus.SprintStatus]) -> list[records.Record]:
    """``sprint-status.yaml`` is where BMAD v6 tracks status, so its entry wins over the story file's."""
    overlay = {k: v for s in sprints for k, v in s.stories.items()}
    if not overlay:
        return items
    out = []
    for record in items:
        entry = overlay.get(record.id) if record.format == bmad.FORMAT else None
        if entry is not None:
            record = replace(record, status=entry.status, status_raw=entry.raw, status_line=entry.line)
        out.append(record)
    return out


def _with_manifests(items: list[records.Record], manifests: list[manifest.Manifest]) -> list[records.Record]:
    """Order spec files by their ``stories.yaml``, and add the listed stories that have no spec file yet."""
    if not manifests:
        return items
    by_id = {r.id: r for r in items if r.format == bmad.FORMAT}
    out = [
        r for r in items if not (r.format == bmad.FORMAT and any(r.id in {e.id for e in m.entries} for m in manifests))
    ]
    for m in manifests:
        for index, entry in enumerate(m.entries):
            found = by_id.get(entry.id)
            extra = (
                (records.Section("Dev instructions", entry.invoke_dev_with, entry.line),)
                if entry.invoke_dev_with
                else ()
            )
            if found is None:
                found = records.Record(
                    id=entry.id,
                    title=entry.title,
                    format=bmad.FORMAT,
                    source=plans.SourceRef(m.path, entry.line),
                    status="draft",
                    statement=entry.description,
                )
            out.append(
                replace(
                    found,
                    title=found.title if found.title != PurePath(found.source.path).stem else entry.title,
                    statement=found.statement or entry.description,
                    sections=found.sections + extra,
                    group="",
                    chain=m.path,
                    order=((index, ""),),
                )
            )
    return out
