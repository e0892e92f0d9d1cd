"""The one status table: every raw status value any format writes, mapped to a normalised status."""

from __future__ import annotations

import re

__all__ = ["DONE", "NOT_SCHEDULED", "STATUSES", "TABLE", "checkbox_status", "normalise"]

#: The normalised statuses, in workflow order.
STATUSES = ("draft", "ready", "in_progress", "review", "done", "cancelled")

#: Statuses whose items are finished: they are not scheduled, and dependencies on them are satisfied.
DONE = "done"
NOT_SCHEDULED = frozenset({"done", "cancelled"})

#: Raw value (after :func:`_key` folding) → normalised status.  Keep in step with docs/stories.md.
TABLE: dict[str, str] = {
    # draft
    "draft": "draft",
    "drafted": "draft",
    "backlog": "draft",
    "deferred": "draft",
    # ready
    "approved": "ready",
    "ready": "ready",
    "ready for dev": "ready",
    "readyfordev": "ready",
    "pending": "ready",
    "todo": "ready",
    "to do": "ready",
    "open": "ready",
    "not started": "ready",
    # in progress
    "inprogress": "in_progress",
    "in progress": "in_progress",
    "contexted": "in_progress",
    "started": "in_progress",
    "wip": "in_progress",
    # review
    "review": "review",
    "in review": "review",
    "inreview": "review",
    "ready for review": "review",
    # done
    "done": "done",
    "completed": "done",
    "complete": "done",
    "ready for done": "done",
    "closed": "done",
    # cancelled
    "cancelled": "cancelled",
    "canceled": "cancelled",
}

_TRAILING = re.compile(r"\s*[(\[].*$")
_DECORATION = re.compile(r"[^\w\s-]+", re.UNICODE)
_SEPARATORS = re.compile(r"[\s_-]+")


def _key(raw: str) -> str:
    text = _TRAILING.sub("", raw.strip())  # "Done (Completed 2025-10-27)" → "Done"
    text = _DECORATION.sub(" ", text)  # "✅ **Done**" → "Done"
    return _SEPARATORS.sub(" ", text).strip().lower()


def normalise(raw: str) -> str | None:
    """Map a raw status (case, emoji and trailing parentheses ignored) to a normalised one, or None."""
    key = _key(raw)
    return TABLE.get(key) or TABLE.get(key.replace(" ", ""))


def checkbox_status(mark: str) -> str | None:
    """Map a checklist mark (``[ ]``, ``[x]``, ``[-]``, ``[~]``) to a normalised status, or None."""
    return {" ": "ready", "": "ready", "x": "done", "X": "done", "-": "in_progress", "~": "in_progress"}.get(mark)
