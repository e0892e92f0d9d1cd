"""The attempt checkpoint: what a task's finished steps left for its next attempt, as one typed record.

An attempt saves a checkpoint after each step (``engine/attempt.py``) so that an attempt after a crash
does not redo — or pay twice for — a step that is done; a failed attempt leaves its retry what failed
and the agent session to continue; follow-ups, re-opened revisions and conflict resolvers start a task
from one. It is stored as a JSON object in the task's ``checkpoint`` column under the keys below, which
rows written before this record existed use too.

A key this record does not know (a newer release's, or a hand-edited row's) or a known key whose value has
the wrong type is kept in ``unknown`` and written back unchanged: never silently dropped, never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["EMPTY", "Checkpoint"]

#: the JSON keys of the checkpoint, by field (the names the stored rows have always used)
_BOOLS: Final = ("agent", "verified", "reviewed", "revision")
_STRINGS: Final = (
    "commit",
    "session_id",
    "review_attempt",
    "merge_from",
    "failure",
    "retry_from",
    "said",
    "resolved_by",
)
_INTS: Final = ("revisions", "heard")
#: keys that record how an attempt starts rather than a step it finished (left out of ``steps``)
_NOT_STEPS: Final = frozenset({"merge_from", "conflict_paths", "failure", "retry_from", "said"})


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A task's checkpoint. Every field is optional; an empty checkpoint starts the task from scratch."""

    #: the agent's step is done and its work committed (``commit``): never paid for twice
    agent: bool = False
    #: the agent's commit (None: it changed nothing)
    commit: str | None = None
    #: the agent's session, which a revision or a retry continues
    session_id: str | None = None
    #: the runtime's own saved progress (``TaskContext.save_state``), handed back on resume
    runtime_state: Mapping[str, Any] | None = None
    #: the verification commands passed on ``commit``
    verified: bool = False
    #: the reviewer accepted ``commit``
    reviewed: bool = False
    #: the attempt whose verdicts the review reads (the one that did the work)
    review_attempt: str | None = None
    #: revisions asked for so far (by failed checks or by the reviewer)
    revisions: int = 0
    #: the attempt finished every step; ``merged`` is what it landed (None: nothing to land)
    finished: bool = False
    merged: str | None = None
    #: a conflict resolver: the commit whose merge it starts from, and the paths in conflict
    merge_from: str | None = None
    conflict_paths: tuple[str, ...] = ()
    #: what made the previous attempt fail, told to the next one
    failure: str | None = None
    #: a retry that continues the session starts its worktree at this commit
    retry_from: str | None = None
    #: what a person said to the agent that its next attempt is told (``domain/followups.py``)
    said: str | None = None
    #: the id of the last follow-up message the agent has been handed
    heard: int = 0
    #: the task was reopened as a revision after it had succeeded (``engine/revisions.py``)
    revision: bool = False
    #: the task was taken out of the plan; this task (a resolver, a re-plan's) settles it
    resolved_by: str | None = None
    #: keys this record does not know, or known keys with a value of the wrong type: kept as they were
    unknown: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, stored: Mapping[str, Any] | None) -> Checkpoint:
        """The checkpoint a stored JSON object (or None: no checkpoint) holds."""
        if not stored:
            return EMPTY
        known: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, value in stored.items():
            if not _fits(key, value):
                unknown[key] = value
            elif key == "conflict_paths":
                known[key] = tuple(value)
            elif key == "merged":
                known["finished"], known["merged"] = True, value
            else:
                known[key] = value
        return cls(**known, unknown=unknown)

    def to_json(self) -> dict[str, Any]:
        """The JSON object to store: the set fields under their keys, then the unknown keys as they came."""
        out: dict[str, Any] = {}
        for key in _BOOLS:
            if getattr(self, key):
                out[key] = True
        for key in (*_STRINGS, *_INTS):
            if value := getattr(self, key):
                out[key] = value
        if self.runtime_state:
            out["runtime_state"] = dict(self.runtime_state)
        if self.conflict_paths:
            out["conflict_paths"] = list(self.conflict_paths)
        if self.finished:
            out["merged"] = self.merged
        return {**self.unknown, **out}

    def steps(self) -> list[str]:
        """The names of what an interrupted attempt had done (the ``checkpoint.resumed`` event's ``steps``)."""
        return sorted(k for k in self.to_json() if k not in _NOT_STEPS)

    @property
    def has_session(self) -> bool:
        """The agent left a session a later turn can continue (its id, or the runtime's saved state)."""
        return bool(self.session_id or self.runtime_state)

    def session(self) -> Checkpoint:
        """Only the agent's session (its id and the runtime's state): what a continued session needs."""
        return Checkpoint(session_id=self.session_id, runtime_state=self.runtime_state)


def _fits(key: str, value: object) -> bool:
    """``value`` is one the field stored under ``key`` takes."""
    if key in _BOOLS:
        return isinstance(value, bool)
    if key in _STRINGS or key == "merged":
        return value is None or isinstance(value, str)
    if key in _INTS:
        return isinstance(value, int) and not isinstance(value, bool)
    if key == "runtime_state":
        return value is None or isinstance(value, Mapping)
    if key == "conflict_paths":
        return isinstance(value, list) and all(isinstance(p, str) for p in value)
    return False


#: no checkpoint: a task that starts from scratch
EMPTY: Final = Checkpoint()
