from __future__ import annotations

from quarterdeck.domain import transitions
from quarterdeck.domain.statuses import TaskStatus as S
from quarterdeck.domain.transitions import Transition, check


def test_claim_only_from_ready() -> None:
    assert transitions.sources(S.RUNNING) == {S.READY}
    assert check(Transition(S.READY, S.RUNNING)) is None
    assert check(Transition(S.PENDING, S.RUNNING)) == "claim-only-ready: cannot go from pending to running"


def test_ready_needs_every_dependency_succeeded() -> None:
    assert check(Transition(S.PENDING, S.READY, dependencies=[S.SUCCEEDED, S.SUCCEEDED])) is None
    assert check(Transition(S.PENDING, S.READY, dependencies=[S.SUCCEEDED, S.RUNNING])) == (
        "ready-needs-dependencies: not every dependency has succeeded"
    )


def test_retry_needs_attempts_left() -> None:
    assert check(Transition(S.RUNNING, S.READY, attempts=1, max_attempts=2)) is None
    assert check(Transition(S.RUNNING, S.READY, attempts=2, max_attempts=2)) == (
        "retry-needs-attempts-left: all 2 attempts used"
    )


def test_finished_tasks_stay_finished_but_a_success_may_be_reopened_as_a_revision() -> None:
    for target in S:
        if target not in (S.SUCCEEDED, S.READY):
            assert check(Transition(S.SUCCEEDED, target)) is not None
    assert check(Transition(S.SUCCEEDED, S.READY)) is None
    assert transitions.sources(S.BLOCKED) == {S.PENDING, S.READY}


def test_only_blocked_requeued_or_replanned_tasks_wait_again() -> None:
    assert transitions.sources(S.PENDING) == {S.BLOCKED, S.READY, S.FAILED, S.CONFLICT, S.CANCELLED}
    assert check(Transition(S.SUCCEEDED, S.PENDING)) is not None
