"""Lessons: what a finished task leaves later tasks, and how many of them a prompt is given.

Pure rules (no I/O): ``compose`` writes a lesson from what the store knows of a task's end (its prompt,
the attempts' failures and how the last one got through, the reviewer's verdicts, the files the commit
touched); ``choose`` keeps the nearest lessons that are near enough and fit a token budget; ``section``
is the part of a prompt that hands them over. See docs/memory.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_BUDGET_TOKENS",
    "DEFAULT_K",
    "MIN_SIMILARITY",
    "Candidate",
    "TaskEnd",
    "choose",
    "compose",
    "estimate_tokens",
    "section",
]

#: how many lessons a task is given at most
DEFAULT_K = 3
#: the most of a prompt the lessons may take (a rough count: ``estimate_tokens``)
DEFAULT_BUDGET_TOKENS = 600
#: below this cosine similarity (all-MiniLM-L6-v2) a lesson is about something else and is not given. On the
#: labelled set (tests/support/memory_pairs.py) a task and its own lesson score 0.18-0.62 (median 0.39, 9 in 10
#: above 0.27); a task and another's lesson score under 0.22 nine times in ten
MIN_SIMILARITY = 0.25
#: the heading of the prompt's section of lessons
HEADING = "Lessons from earlier work in this repository"

_PROMPT_CHARS = 300
_FAILURE_CHARS = 400
_SUMMARY_CHARS = 300
_FILES = 12


@dataclass(frozen=True, slots=True)
class TaskEnd:
    """What is known of a task when it ends, to learn from."""

    title: str
    prompt: str
    succeeded: bool
    attempts: int
    revisions: int = 0
    #: the errors of the attempts that failed, first first (verification output, agent errors, review rejections)
    failures: Sequence[str] = ()
    #: what the agent said it did, last attempt last
    summaries: Sequence[str] = ()
    #: the reviewer's verdicts: "accept: all criteria met", "revise: …"
    verdicts: Sequence[str] = ()
    #: the files the task's commit changed
    files: Sequence[str] = ()
    #: the final error, for a task that failed for good
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A lesson a search found, with its cosine similarity to the task at hand."""

    id: str
    text: str
    similarity: float
    extra: dict[str, str] = field(default_factory=dict)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def compose(end: TaskEnd) -> str:
    """The lesson's text: short, plain, the same shape every time (agents read it; the model embeds it)."""
    lines = [f"Task: {_clip(end.title, 120)}. {_clip(end.prompt, _PROMPT_CHARS)}"]
    tries = f"{end.attempts} attempt{'s' * (end.attempts != 1)}"
    revised = f", {end.revisions} revision{'s' * (end.revisions != 1)}" if end.revisions else ""
    lines.append(f"Outcome: {'succeeded' if end.succeeded else 'failed'} after {tries}{revised}.")
    for failure in end.failures[-3:]:
        lines.append(f"What failed: {_clip(failure, _FAILURE_CHARS)}")
    if end.succeeded and end.failures and end.summaries:
        lines.append(f"How it was fixed: {_clip(end.summaries[-1], _SUMMARY_CHARS)}")
    elif end.summaries:
        lines.append(f"What was done: {_clip(end.summaries[-1], _SUMMARY_CHARS)}")
    if not end.succeeded and end.error:
        lines.append(f"Final error: {_clip(end.error, _FAILURE_CHARS)}")
    for verdict in end.verdicts[-2:]:
        lines.append(f"Review: {_clip(verdict, 200)}")
    if end.files:
        more = f" and {len(end.files) - _FILES} more" if len(end.files) > _FILES else ""
        lines.append(f"Files: {', '.join(end.files[:_FILES])}{more}")
    return "\n".join(lines)


def estimate_tokens(text: str) -> int:
    """A token count good enough for a budget: about four characters a token in English and code."""
    return (len(text) + 3) // 4


def choose(
    candidates: Sequence[Candidate],
    *,
    k: int = DEFAULT_K,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    min_similarity: float = MIN_SIMILARITY,
) -> list[Candidate]:
    """The nearest candidates, at most ``k``, each near enough, all within ``budget_tokens`` together.

    A lesson that does not fit is skipped (a shorter, farther one may still fit); order is kept.
    """
    chosen: list[Candidate] = []
    spent = 0
    for candidate in sorted(candidates, key=lambda c: -c.similarity):
        if len(chosen) == k or candidate.similarity < min_similarity:
            break
        cost = estimate_tokens(candidate.text)
        if spent + cost > budget_tokens:
            continue
        chosen.append(candidate)
        spent += cost
    return chosen


def section(lessons: Sequence[Candidate]) -> str:
    """The prompt's part that hands the lessons over (empty without any)."""
    if not lessons:
        return ""
    body = "\n\n".join(f"- {lesson.text.replace(chr(10), chr(10) + '  ')}" for lesson in lessons)
    return (
        f"## {HEADING}\n\nEarlier tasks in this repository left these notes. Use what applies; "
        f"the task above comes first.\n\n{body}"
    )
