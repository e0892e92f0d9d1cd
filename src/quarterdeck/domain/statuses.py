"""The statuses of runs, tasks and attempts."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEAD_TASK", "TERMINAL_TASK", "AttemptStatus", "RunStatus", "TaskStatus", "WaitingFor", "takes_work"]


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    #: waiting for its dependencies
    PENDING = "pending"
    #: every dependency succeeded; waiting for a worker
    READY = "ready"
    #: claimed by a worker under a lease
    RUNNING = "running"
    #: done, verified and merged
    SUCCEEDED = "succeeded"
    #: out of attempts, or failed for good
    FAILED = "failed"
    #: its branch conflicts with the integration branch; the paths and both commits are recorded
    CONFLICT = "conflict"
    #: a dependency failed or was cancelled, so it will never run
    BLOCKED = "blocked"
    #: stopped by a user
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TASK


TERMINAL_TASK = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CONFLICT, TaskStatus.BLOCKED, TaskStatus.CANCELLED}
)
#: ended without success: listed as dead letters, and can be re-queued
DEAD_TASK = frozenset({TaskStatus.FAILED, TaskStatus.CONFLICT, TaskStatus.CANCELLED})


class RunStatus(StrEnum):
    """Where a run is in its life."""

    #: a crew's manager is planning the goal; the plan's tasks arrive when it is done
    PLANNING = "planning"
    #: tasks are being scheduled and run
    RUNNING = "running"
    #: running tasks finish, nothing new starts (a person paused it)
    PAUSED = "paused"
    #: a person must decide (``WaitingFor``): for a plan, a re-plan or more budget nothing new starts meanwhile;
    #: for a merge only the tasks whose landing waits stop, the others go on (``takes_work``)
    WAITING = "waiting"
    #: every task succeeded
    SUCCEEDED = "succeeded"
    #: at least one task failed or was blocked
    FAILED = "failed"
    #: stopped by a user
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


class WaitingFor(StrEnum):
    """What a ``waiting`` run waits for a person to decide."""

    #: the manager's plan, before anything runs
    PLAN = "plan"
    #: the manager's change of plan after a task failed for good
    REPLAN = "replan"
    #: more budget: the next step could not be afforded
    BUDGET = "budget"
    #: a task's landing (while at least one merge approval of the run is pending)
    MERGE = "merge"


def takes_work(status: RunStatus, waiting_for: str | None) -> bool:
    """Whether workers claim the run's ready tasks: it runs, or it waits only for merge approvals.

    (``store/merge_waits.TAKES_WORK`` is the same rule in SQL.)"""
    return status is RunStatus.RUNNING or (status is RunStatus.WAITING and waiting_for == WaitingFor.MERGE)


class AttemptStatus(StrEnum):
    """The outcome of one try at a task."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: the worker stopped renewing its lease (it died); the task was handed to another worker
    EXPIRED = "expired"
    CANCELLED = "cancelled"
