"""Review policy, with no I/O: per-criterion results combined, the task's verdict, the revision turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quarterdeck.crews.schema import ReviewDraft

__all__ = ["combine", "decide", "follow_up"]

MET, NOT_MET, CANNOT_TELL = "met", "not_met", "cannot_tell"


def combine(
    checked: Sequence[tuple[dict[str, str], str, int, str]],
    judged: Sequence[dict[str, str]],
    draft: ReviewDraft | None,
    *,
    reviewer: str,
) -> list[dict[str, Any]]:
    """One entry per criterion, in the task's order of criterion ids: commands decide theirs, the reviewer the rest.

    A criterion the reviewer did not mention counts as ``cannot_tell``.
    """
    entries: list[dict[str, Any]] = []
    for criterion, command, exit_code, output in checked:
        entries.append(
            {
                "criterion": criterion["id"],
                "text": criterion["text"],
                "status": MET if exit_code == 0 else NOT_MET,
                "evidence": f"`{command}` exited {exit_code}" + (f":\n{output[-2000:]}" if output else ""),
                "by": "command",
                "command": command,
            }
        )
    answers = {j.criterion.strip().rstrip("."): j for j in (draft.criteria if draft is not None else [])}
    for criterion in judged:
        judgement = answers.get(criterion["id"])
        entries.append(
            {
                "criterion": criterion["id"],
                "text": criterion["text"],
                "status": judgement.status if judgement is not None else CANNOT_TELL,
                "evidence": judgement.evidence if judgement is not None else "the reviewer did not judge it",
                "by": reviewer,
            }
        )
    return sorted(entries, key=lambda e: _order(e["criterion"]))


def _order(criterion_id: str) -> tuple[int, str]:
    return (int(criterion_id), "") if criterion_id.isdigit() else (1 << 30, criterion_id)


def decide(criteria: Sequence[dict[str, Any]], reviewer_verdict: str | None) -> str:
    """``reject`` when the reviewer rejects; ``accept`` when every criterion is met; otherwise ``revise``.

    A command that fails outweighs a reviewer who would accept: criteria with commands are not opinions.
    """
    if reviewer_verdict == "reject":
        return "reject"
    if all(c["status"] == MET for c in criteria):
        return "accept"
    return "revise"


def follow_up(criteria: Sequence[dict[str, Any]], summary: str) -> str:
    """The turn that hands the reviewer's findings back to the agent that did the work."""
    unmet = [c for c in criteria if c["status"] != MET]
    lines = [f"- criterion {c['criterion']} ({c['text']}): {c['status']} — {c['evidence']}" for c in unmet]
    return (
        "The reviewer asks for a revision. These acceptance criteria are not met yet:\n"
        + "\n".join(lines)
        + f"\n\nThe reviewer's summary:\n{summary}\n\nChange the code so that every criterion holds, then stop."
    )
