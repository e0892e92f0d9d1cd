"""Pull requests, reviews and issue commands as pure records and rules: what the forges' adapters speak.

A forge (GitHub, GitLab) is reached through the ``Forge`` port; the records here are what crosses it.
The rules (the body of a run's pull request, which task owns a piece of feedback, which comment is a
command, whether a pull request may be marked ready) do no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "COMMANDS",
    "ChecksState",
    "Feedback",
    "Forge",
    "IssueRecord",
    "PullRequest",
    "PullTask",
    "mark_ready",
    "owner_of",
    "parse_command",
    "pull_request_body",
    "revision_turn",
]

#: the combined state of a commit's checks (GitHub check runs and statuses, GitLab pipeline statuses)
ChecksState = Literal["success", "failure", "pending", "none"]

#: the comment commands that start work from an issue
COMMANDS = ("plan", "run")
_COMMAND = re.compile(r"^\s*/quarterdeck\s+(\w+)\b", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request (GitHub) or merge request (GitLab) as the forge reports it."""

    number: int
    url: str
    head: str
    base: str
    draft: bool
    #: GitHub's GraphQL node id (marking ready goes through GraphQL); empty on GitLab
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class IssueRecord:
    """An issue, in the shape of ``gh issue list --json number,title,body,labels,state`` (a story)."""

    number: int
    title: str
    body: str
    labels: tuple[str, ...] = ()
    state: str = "OPEN"


@dataclass(frozen=True, slots=True)
class Feedback:
    """One piece of review or CI feedback on a pull request, to be turned into a revision."""

    #: ``comment`` (a line comment), ``review`` (changes requested) or ``check`` (a failed CI check)
    kind: Literal["comment", "review", "check"]
    body: str
    author: str = ""
    path: str | None = None
    line: int | None = None
    #: the commit the feedback is about (a check's head, a comment's commit)
    commit: str | None = None


@dataclass(frozen=True, slots=True)
class PullTask:
    """A task as the pull request's body lists it."""

    id: str
    title: str
    status: str
    cost_usd: float = 0.0
    #: criterion text → verdict (``met``, ``unmet`` …; empty: not judged)
    criteria: Sequence[tuple[str, str]] = field(default=())


class Forge(Protocol):
    """The port every forge adapter implements (``quarterdeck.forges.github``, ``.gitlab``)."""

    kind: str

    async def find_pull_request(self, head: str) -> PullRequest | None:
        """The open pull request from branch ``head``, if any."""
        ...

    async def open_pull_request(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        """Open a pull request from ``head`` into ``base``."""
        ...

    async def update_pull_request(self, number: int, *, title: str, body: str) -> None:
        """Replace a pull request's title and body."""
        ...

    async def mark_ready(self, pull: PullRequest) -> None:
        """Take a draft pull request out of draft."""
        ...

    async def checks(self, commit: str) -> ChecksState:
        """The combined state of ``commit``'s checks."""
        ...

    async def comment_issue(self, number: int, body: str) -> None:
        """Comment on an issue."""
        ...


def parse_command(text: str) -> str | None:
    """The command of a ``/quarterdeck plan|run`` comment (None when it holds none or an unknown one)."""
    match = _COMMAND.search(text)
    if match is None or match.group(1).lower() not in COMMANDS:
        return None
    return match.group(1).lower()


def mark_ready(run_status: str, checks: ChecksState, *, wait_for_checks: bool) -> bool:
    """Whether a draft pull request may be marked ready: its run succeeded (and its checks are green)."""
    if run_status != "succeeded":
        return False
    if not wait_for_checks:
        return checks != "failure"
    return checks == "success"


_STATUS_MARK = {"succeeded": "✅", "failed": "❌", "conflict": "⚠️", "cancelled": "⏹", "blocked": "⏸"}


def pull_request_body(
    *,
    run_id: str,
    run_name: str,
    run_status: str,
    spent_usd: float,
    tasks: Sequence[PullTask],
    dashboard_url: str | None,
    issue: int | None = None,
) -> str:
    """The Markdown body of a run's pull request: its tasks, their criteria and verdicts, costs, links."""
    lines = [f"Quarterdeck run `{run_id}` ({run_name}): **{run_status}**, ${spent_usd:.2f} spent."]
    if dashboard_url:
        lines.append(f"Dashboard: {dashboard_url.rstrip('/')}/runs/{run_id}")
    if issue is not None:
        lines.append(f"Closes #{issue}")
    lines += ["", "| task | status | cost |", "| --- | --- | --- |"]
    for task in tasks:
        mark = _STATUS_MARK.get(task.status, "…")
        lines.append(f"| `{task.id}` {_cell(task.title)} | {mark} {task.status} | ${task.cost_usd:.2f} |")
    for task in tasks:
        if not task.criteria:
            continue
        lines += ["", f"**{_cell(task.title)}** — acceptance criteria:"]
        for text, verdict in task.criteria:
            box = "x" if verdict == "met" else " "
            lines.append(f"- [{box}] {_cell(text)}" + (f" — {verdict}" if verdict else ""))
    lines += ["", "<!-- quarterdeck:run=" + run_id + " -->"]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or list item (one line, no pipes)."""
    return " ".join(text.split()).replace("|", "\\|")[:300]


def revision_turn(items: Sequence[Feedback]) -> str:
    """The turn that hands review and CI feedback to the agent's session."""
    parts = ["Your work was opened as a pull request, and it got feedback that asks for changes:", ""]
    for item in items:
        where = f" on `{item.path}`" + (f" line {item.line}" if item.line else "") if item.path else ""
        who = f" from {item.author}" if item.author else ""
        label = {"comment": "A review comment", "review": "A review", "check": "A failed CI check"}[item.kind]
        parts += [f"{label}{who}{where}:", "", "> " + "\n> ".join(item.body.strip().splitlines() or [""]), ""]
    parts.append("Make the changes it asks for in this worktree, keep the checks passing, then stop.")
    return "\n".join(parts)


def owner_of(path: str | None, owners: Mapping[str, str], fallback: str | None) -> str | None:
    """The task owning a path (from the commits that last touched it), else ``fallback``."""
    if path is not None and path in owners:
        return owners[path]
    return fallback
