"""Task state transitions: one ordered list of small named rules, applied by ``check``.

The store turns the accepted sources of each target into the ``WHERE status IN (…)`` of its
conditional updates, so a transition the rules reject can never be written, even by a racing worker.
Every status change of a task in the code is guarded from these rules or by statuses they allow
(``tests/unit/domain/test_store_transitions.py`` reads the code's ``UPDATE``s and checks them here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quarterdeck.domain.statuses import DEAD_TASK
from quarterdeck.domain.statuses import TaskStatus as S

__all__ = ["RULES", "Rule", "Transition", "check", "sources"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A proposed change of a task's status, with the facts the rules need."""

    current: S
    target: S
    #: statuses of the task's dependencies
    dependencies: Sequence[S] = ()
    attempts: int = 0
    max_attempts: int = 1


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: for the targets it governs, which sources it allows and an optional extra check."""

    name: str
    targets: frozenset[S]
    allowed_from: frozenset[S]
    extra: Callable[[Transition], str | None] | None = None


def _deps_succeeded(t: Transition) -> str | None:
    if all(d is S.SUCCEEDED for d in t.dependencies):
        return None
    return "not every dependency has succeeded"


def _attempts_left(t: Transition) -> str | None:
    if t.current is S.RUNNING and t.attempts >= t.max_attempts:
        return f"all {t.max_attempts} attempts used"
    return None


def _f(*states: S) -> frozenset[S]:
    return frozenset(states)


#: The rules, in the order they are applied; the first rejection wins.
#: a task becomes ready when it is first unblocked, retried, re-queued, reopened as a revision after it
#: succeeded (``engine/revisions.py``), or freed by a re-plan that retired its failed dependency
_TO_READY = _f(S.PENDING, S.RUNNING, S.BLOCKED, S.SUCCEEDED, *DEAD_TASK)

RULES: tuple[Rule, ...] = (
    Rule("ready-needs-dependencies", _f(S.READY), _TO_READY, _deps_succeeded),
    Rule("retry-needs-attempts-left", _f(S.READY), _TO_READY, _attempts_left),
    Rule("claim-only-ready", _f(S.RUNNING), _f(S.READY)),
    Rule("finish-only-running", _f(S.SUCCEEDED, S.FAILED, S.CONFLICT), _f(S.RUNNING)),
    Rule("block-only-waiting", _f(S.BLOCKED), _f(S.PENDING, S.READY)),
    Rule("cancel-unfinished", _f(S.CANCELLED), _f(S.PENDING, S.READY, S.RUNNING)),
    # (a ready task waits again when a re-plan gives it a new dependency: ``store/crews.reconcile_waiting``)
    Rule("wait-again-only-when-unblocked-requeued-or-replanned", _f(S.PENDING), _f(S.BLOCKED, S.READY, *DEAD_TASK)),
)


def check(t: Transition) -> str | None:
    """Return None when the rules allow the transition, else the first rejecting rule's reason."""
    for rule in RULES:
        if t.target not in rule.targets:
            continue
        if t.current not in rule.allowed_from:
            return f"{rule.name}: cannot go from {t.current} to {t.target}"
        if rule.extra is not None and (reason := rule.extra(t)) is not None:
            return f"{rule.name}: {reason}"
    return None


def sources(target: S) -> frozenset[S]:
    """Every status from which the rules could allow a move to ``target``."""
    allowed = frozenset(S)
    for rule in RULES:
        if target in rule.targets:
            allowed &= rule.allowed_from
    return allowed
