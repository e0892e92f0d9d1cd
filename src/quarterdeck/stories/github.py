"""GitHub issues as exported by ``gh issue list --json number,title,body,labels,state``."""

from __future__ import annotations

import re
from typing import Any

from quarterdeck.domain import plans
from quarterdeck.errors import Problem
from quarterdeck.stories import body, documents, markup, records, statuses

__all__ = ["FORMAT", "issue_refs", "looks_like_issues", "parse", "task_id"]

FORMAT = "github"

#: ``#12`` but not ``owner/repo#12`` (another repository's issue cannot be scheduled here).
_REF = re.compile(r"(?<![\w/.-])#(\d+)\b")
_STATUS_LABEL = re.compile(r"^status\s*[:/]\s*(.+)$", re.IGNORECASE)


def issue_refs(text: str) -> list[str]:
    """Issue references in this repository (``#12``) in a piece of text."""
    return [f"#{n}" for n in _REF.findall(text)]


def task_id(number: str) -> str:
    """The ref-safe plan id of issue ``#12``: ``gh-12``."""
    return "gh-" + number.lstrip("#")


def looks_like_issues(data: Any) -> bool:
    """True when parsed JSON is a list of objects with ``number`` and ``title``."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(i, dict) and "number" in i and "title" in i for i in data)
    )


def parse(text: str, path: str) -> records.Parsed:
    """One record per issue; closed issues are done, and dependencies come from labelled body lines."""
    loaded = documents.load_json(text, path)
    if loaded.problem is not None:
        return records.Parsed(problems=(loaded.problem,))
    if not looks_like_issues(loaded.value):
        return records.Parsed(skip="not a story: JSON that is not a GitHub issue list")
    out: list[records.Record] = []
    problems: list[Problem] = []
    for issue in loaded.value:
        line = int(getattr(issue, "line", 0))
        number = str(issue.get("number"))
        if not re.fullmatch(r"[0-9]+", number):
            problems.append(Problem(path, line, f"issue number {number!r} is not a number"))
            continue
        status, raw = _status(issue, path, line, problems)
        text_body = issue.get("body") if isinstance(issue.get("body"), str) else ""
        # Body lines are counted from the issue's own line: the JSON string has no lines of its own.
        parts = body.parse_body(markup.split_lines(text_body, start=line), issue_refs)
        out.append(
            records.Record(
                id=f"#{number}",
                task_id=task_id(number),
                title=str(issue.get("title") or f"Issue #{number}"),
                format=FORMAT,
                source=plans.SourceRef(path, line),
                status=status,
                status_raw=raw,
                status_line=line,
                statement=parts.statement,
                acceptance_criteria=parts.acceptance_criteria,
                subtasks=parts.subtasks,
                depends_on=tuple(records.DepRef(ref.ref, line) for ref in parts.depends_on),
                verify=parts.verify,
                dev_notes=parts.dev_notes,
                sections=parts.sections,
                chain=path,
                order=((int(number), ""),),
            )
        )
    return records.Parsed(records=tuple(out), problems=tuple(problems))


def _status(issue: Any, path: str, line: int, problems: list[Problem]) -> tuple[str, str]:
    state = str(issue.get("state") or "open")
    reason = str(issue.get("stateReason") or issue.get("state_reason") or "")
    if state.lower() == "closed":
        return ("cancelled" if reason.lower() == "not_planned" else "done"), state
    if state.lower() != "open":
        problems.append(Problem(path, line, f"unknown state {state!r} (expected OPEN or CLOSED)"))
        return "ready", state
    labels = issue.get("labels")
    for label in labels if isinstance(labels, list) else []:
        name = str(label.get("name", "")) if isinstance(label, dict) else str(label)
        match = _STATUS_LABEL.match(name)
        if match:
            status = statuses.normalise(match.group(1))
            if status is None:
                problems.append(Problem(path, line, f"unknown status {name!r} in a label (see the status table)"))
                return "ready", name
            return status, name
    return "ready", state
