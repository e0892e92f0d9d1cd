"""Event types: every state change and agent action is recorded as one of these."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EventType"]


class EventType(StrEnum):
    """What happened; the payload's keys are documented per member."""

    #: a run was created from a plan (``name``, ``tasks``)
    RUN_CREATED = "run.created"
    #: a run ended (``status``)
    RUN_FINISHED = "run.finished"
    #: a task was added to a running run (``for``: the task it stands in for, e.g. a conflict resolver)
    TASK_CREATED = "task.created"
    #: a conflict resolver's worktree starts from the merge in progress (``commit``)
    MERGE_STARTED = "merge.started"
    #: a task's dependencies are met
    TASK_READY = "task.ready"
    #: a worker claimed a task (``worker``, ``attempt``)
    TASK_CLAIMED = "task.claimed"
    #: a task succeeded (``commit``)
    TASK_SUCCEEDED = "task.succeeded"
    #: an attempt failed (``error``, ``retry_in`` when it will be retried)
    TASK_FAILED = "task.failed"
    #: a task can never run (``reason``)
    TASK_BLOCKED = "task.blocked"
    #: a user cancelled a task (``blocked``: dependants that can no longer run)
    TASK_CANCELLED = "task.cancelled"
    #: a failed or cancelled task was given fresh attempts (``waiting``: dependants that wait again)
    TASK_REQUEUED = "task.requeued"
    #: a task's priority changed (``priority``)
    TASK_PRIORITIZED = "task.prioritized"
    #: a run was paused, resumed or cancelled by a user
    RUN_PAUSED = "run.paused"
    RUN_RESUMED = "run.resumed"
    RUN_CANCELLED = "run.cancelled"
    #: a run stopped because its next step could not be afforded (``message``)
    RUN_BUDGET_EXHAUSTED = "run.budget_exhausted"
    #: a run's budget was raised (``budget_usd``)
    RUN_BUDGET_RAISED = "run.budget_raised"
    #: an agent step's cost was settled (``cost_usd``, ``model``, ``source``)
    COST_RECORDED = "cost.recorded"
    #: a worker stopping hard handed a running task back (``worker``)
    TASK_RELEASED = "task.released"
    #: an attempt's lease expired and the task was handed back (``worker``)
    LEASE_EXPIRED = "lease.expired"
    #: an attempt continued from the steps an interrupted attempt completed (``steps``)
    CHECKPOINT_RESUMED = "checkpoint.resumed"
    #: a project setup command ran in a new worktree (``command``, ``exit_code``, ``output``)
    SETUP_RESULT = "setup.result"
    #: a worktree was prepared (``path``, ``branch``, ``base``)
    WORKSPACE_READY = "workspace.ready"
    #: an agent said something (``text``)
    AGENT_MESSAGE = "agent.message"
    #: an agent ran a tool or command (``tool``, ``input``)
    AGENT_TOOL = "agent.tool"
    #: output of a command (``stream``, ``text``)
    AGENT_OUTPUT = "agent.output"
    #: the agent finished (``ok``, ``summary``)
    AGENT_RESULT = "agent.result"
    #: a verification command finished (``command``, ``exit_code``, ``output``)
    VERIFY_RESULT = "verify.result"
    #: a failed verification went back to the agent's session (``revision``, ``command``)
    REVISION_REQUESTED = "revision.requested"
    #: the agent changed no file and the task does not allow an empty result
    RESULT_EMPTY = "result.empty"
    #: the agent's work was committed (``commit``, ``files``)
    COMMIT_CREATED = "commit.created"
    #: the task's branch landed on the integration branch (``commit``, ``branch``)
    MERGE_DONE = "merge.done"
    #: the integration branch (and task branch) were pushed (``remote``, ``refs``)
    PUSH_DONE = "push.done"
    #: a push failed; the landing stands (``remote``, ``refs``, ``error``)
    PUSH_FAILED = "push.failed"
    #: the task's branch could not be merged (``paths``)
    MERGE_CONFLICT = "merge.conflict"
    # --- crews (see quarterdeck.crews) -----------------------------------------------------------------
    #: a manager proposed a plan or a change to it (``version``, ``reason``, ``tasks``)
    PLAN_PROPOSED = "plan.proposed"
    #: a plan version took effect (``version``)
    PLAN_APPLIED = "plan.applied"
    #: a human gate opened (``approval``, ``kind``)
    APPROVAL_REQUESTED = "approval.requested"
    #: a human gate was decided (``approval``, ``kind``, ``status``, ``by``, ``reason``)
    APPROVAL_DECIDED = "approval.decided"
    #: the reviewer judged an attempt (``verdict``, ``revision``, ``criteria``: criterion id → status)
    REVIEW_VERDICT = "review.verdict"
