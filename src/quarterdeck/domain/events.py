"""Event types, and the payload each one carries: the one definition the emitters, the store and the docs share.

Every state change and agent action is recorded as an event of one of these types (``store/events.py``).
``SPECS`` says, per type, what it means and which payload keys it may carry; ``NewEvent`` refuses a payload
with a key its type does not declare, and ``docs/events.md`` holds ``markdown()``'s table (a unit test
keeps the two equal). The agent's own events (``agent.*``) come from runtimes, which may be third-party
plugins: their types are *open* — the declared keys are what the built-in runtimes send, and more are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

__all__ = ["SPECS", "EventType", "Field", "Spec", "markdown", "undeclared"]


class EventType(StrEnum):
    """What happened; ``SPECS`` gives each member's meaning and payload keys."""

    RUN_CREATED = "run.created"
    RUN_FINISHED = "run.finished"
    RUN_PLANNING = "run.planning"
    RUN_WAITING = "run.waiting"
    STEP_DEFERRED = "step.deferred"
    TASK_CREATED = "task.created"
    MERGE_STARTED = "merge.started"
    TASK_READY = "task.ready"
    TASK_CLAIMED = "task.claimed"
    TASK_SUCCEEDED = "task.succeeded"
    TASK_FAILED = "task.failed"
    TASK_BLOCKED = "task.blocked"
    TASK_CANCELLED = "task.cancelled"
    TASK_REQUEUED = "task.requeued"
    TASK_PRIORITIZED = "task.prioritized"
    TASK_SAID = "task.said"
    TASK_EDITED = "task.edited"
    TASK_HEARD = "task.heard"
    RUN_PAUSED = "run.paused"
    RUN_RESUMED = "run.resumed"
    RUN_CANCELLED = "run.cancelled"
    RUN_BUDGET_EXHAUSTED = "run.budget_exhausted"
    RUN_BUDGET_RAISED = "run.budget_raised"
    COST_RECORDED = "cost.recorded"
    TASK_RELEASED = "task.released"
    LEASE_EXPIRED = "lease.expired"
    CHECKPOINT_RESUMED = "checkpoint.resumed"
    SETUP_RESULT = "setup.result"
    SANDBOX_CONFINED = "sandbox.confined"
    SANDBOX_REFUSED = "sandbox.refused"
    SANDBOX_EGRESS = "sandbox.egress"
    SANDBOX_OFF = "sandbox.off"
    SANDBOX_UNAVAILABLE = "sandbox.unavailable"
    WORKSPACE_READY = "workspace.ready"
    AGENT_MESSAGE = "agent.message"
    AGENT_TOOL = "agent.tool"
    AGENT_OUTPUT = "agent.output"
    AGENT_RESULT = "agent.result"
    VERIFY_RESULT = "verify.result"
    RETRY_CONTEXT = "retry.context"
    MEMORY_RECALLED = "memory.recalled"
    REVISION_REQUESTED = "revision.requested"
    RESULT_EMPTY = "result.empty"
    COMMIT_CREATED = "commit.created"
    MERGE_DONE = "merge.done"
    PUSH_DONE = "push.done"
    PUSH_FAILED = "push.failed"
    MERGE_CONFLICT = "merge.conflict"
    # --- crews (see quarterdeck.crews) -----------------------------------------------------------------
    PLAN_PROPOSED = "plan.proposed"
    PLAN_APPLIED = "plan.applied"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    REVIEW_VERDICT = "review.verdict"
    # --- forges (see quarterdeck.forges) ---------------------------------------------------------------
    FORGE_PULL_OPENED = "forge.pull_opened"
    FORGE_PULL_READY = "forge.pull_ready"
    FORGE_FEEDBACK = "forge.feedback"


@dataclass(frozen=True, slots=True)
class Field:
    """A payload key and what it holds (and when it is there, if not always)."""

    name: str
    doc: str


@dataclass(frozen=True, slots=True)
class Spec:
    """What an event type means and the payload keys it may carry."""

    meaning: str
    fields: tuple[Field, ...] = ()
    #: more keys than ``fields`` are allowed (events that runtimes, possibly plugins, send)
    open: bool = False

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)


def _spec(meaning: str, *fields: tuple[str, str], open: bool = False) -> Spec:
    return Spec(meaning, tuple(Field(name, doc) for name, doc in fields), open)


_BY = ("by", "who asked (a user's email or an API key's name), when known")
_FOR = ("for", "what it waits for: `plan` | `replan` | `budget` | `merge`")

#: every event type: its meaning and its payload keys
SPECS: Final[Mapping[EventType, Spec]] = {
    EventType.RUN_CREATED: _spec(
        "a run was created from a plan",
        ("name", "the plan's name"),
        ("tasks", "how many tasks it has"),
        ("by", "who gave a crew's goal"),
    ),
    EventType.RUN_FINISHED: _spec(
        "a run ended",
        ("status", "`succeeded` | `failed` | `cancelled`"),
        ("error", "why, when it failed without a task failing (e.g. its goal could not be planned)"),
        ("step", "the supervisor's step that failed (`plan`, `replan`), with `error`"),
        ("reason", "why, when a person's decision ended it (a rejected re-plan)"),
    ),
    EventType.RUN_PLANNING: _spec(
        "a crew's manager began planning a goal",
        ("goal", "the goal's text"),
        ("by", "who gave it"),
        ("approve", "the plan waits for a person's approval"),
    ),
    EventType.RUN_WAITING: _spec(
        "a run waits for a person's decision", _FOR, ("task", "the task concerned, when there is one")
    ),
    EventType.STEP_DEFERRED: _spec(
        "a crew's decision step met a system failure (its repository's remote, the database) and is tried again "
        "later, the run staying as it is",
        ("step", "`plan` | `replan` | `budget`"),
        ("error", "the failure"),
        ("retry_in", "seconds until it is tried again"),
    ),
    EventType.TASK_CREATED: _spec(
        "a task was added to a running run", ("for", "the task it stands in for (a conflict resolver, a re-plan's)")
    ),
    EventType.MERGE_STARTED: _spec(
        "a conflict resolver's worktree starts from the merge in progress",
        ("commit", "the commit being merged"),
        ("output", "git's output (its last 2000 characters)"),
    ),
    EventType.TASK_READY: _spec("a task's dependencies are met"),
    EventType.TASK_CLAIMED: _spec(
        "a worker claimed a task", ("attempt", "the attempt's number"), ("worker", "the worker's id")
    ),
    EventType.TASK_SUCCEEDED: _spec("a task succeeded", ("commit", "what it landed (null: nothing to land)")),
    EventType.TASK_FAILED: _spec(
        "an attempt failed", ("error", "why"), ("retry_in", "seconds until it is retried, when it will be")
    ),
    EventType.TASK_BLOCKED: _spec("a task can never run", ("reason", "why (a dependency failed or was cancelled)")),
    EventType.TASK_CANCELLED: _spec(
        "a user cancelled a task", ("blocked", "the dependants that can no longer run"), _BY
    ),
    EventType.TASK_REQUEUED: _spec(
        "a failed, cancelled or succeeded task was given fresh attempts",
        ("waiting", "the dependants that wait again"),
        ("revision", "it succeeded and is reopened as a revision (review feedback, a follow-up)"),
        ("said", "a person's message reopened it"),
        _BY,
    ),
    EventType.TASK_PRIORITIZED: _spec("a task's priority changed", ("priority", "the new priority"), _BY),
    EventType.TASK_SAID: _spec(
        "a person sent the task's agent a message",
        ("by", "who"),
        ("message", "what they said"),
        ("delivery", "`after_turn` | `revision` | `retry` | `with_prompt`"),
    ),
    EventType.TASK_EDITED: _spec(
        "a person changed the task's prompt or options before a retry",
        ("by", "who"),
        ("changed", "the names of what changed"),
    ),
    EventType.TASK_HEARD: _spec(
        "the agent was handed the follow-ups sent while it worked, as a new turn of its session",
        ("messages", "the follow-up messages' ids"),
        ("by", "who sent them"),
    ),
    EventType.RUN_PAUSED: _spec("a user paused a run", _BY),
    EventType.RUN_RESUMED: _spec(
        "a run runs again: a user resumed it, or the last merge approval it waited for was decided",
        _BY,
        ("for", "the wait that ended (`merge`), when a decision ended it"),
    ),
    EventType.RUN_CANCELLED: _spec(
        "a run was cancelled",
        ("tasks", "the tasks cancelled"),
        _BY,
        ("reason", "why, when a person's decision ended it (a rejected budget raise)"),
    ),
    EventType.RUN_BUDGET_EXHAUSTED: _spec(
        "a run stopped because its next step could not be afforded", ("message", "what it needed")
    ),
    EventType.RUN_BUDGET_RAISED: _spec(
        "a run's budget was raised",
        ("budget_usd", "the new limit"),
        ("added_usd", "how much was added"),
        _BY,
    ),
    EventType.COST_RECORDED: _spec(
        "an agent step's cost was settled",
        ("cost_usd", "what it cost"),
        ("model", "the model that was billed"),
        ("source", "where the figure comes from (the provider's report, a price table)"),
    ),
    EventType.TASK_RELEASED: _spec("a worker stopping hard handed a running task back"),
    EventType.LEASE_EXPIRED: _spec(
        "an attempt's lease expired and the task was handed back", ("worker", "the worker that held it")
    ),
    EventType.CHECKPOINT_RESUMED: _spec(
        "an attempt continued from the steps an interrupted attempt completed",
        ("steps", "the checkpoint's steps (`domain/checkpoints.py`)"),
        ("commit", "an interrupted attempt's commit found on the task's branch"),
    ),
    EventType.SETUP_RESULT: _spec(
        "a project setup command ran in a new worktree",
        ("command", "the command"),
        ("exit_code", "its exit code"),
        ("output", "its last 20 lines"),
    ),
    EventType.SANDBOX_CONFINED: _spec(
        "a process of the attempt started in the sandbox",
        ("command", "the program"),
        ("network", "its network policy"),
        ("engine", "the container engine, when one confines it (`podman`, `docker`)"),
        ("writable", "the paths it may write"),
        ("limits", "its resource limits"),
        ("not_shown", "paths kept out of its view"),
    ),
    EventType.SANDBOX_REFUSED: _spec(
        "the sandbox refused something",
        ("what", "`network` or `limit`"),
        ("host", "the host it tried to reach (`network`)"),
        ("port", "and the port"),
        ("command", "the program a limit concerns (`limit`)"),
        ("reason", "why"),
    ),
    EventType.SANDBOX_EGRESS: _spec(
        "a sandboxed step reached an allowed host through the egress proxy", ("host", "the host"), ("port", "the port")
    ),
    EventType.SANDBOX_OFF: _spec(
        "the attempt's steps run unconfined", ("reason", "why (QUARTERDECK_SANDBOX=off, the task's `sandbox:`)")
    ),
    EventType.SANDBOX_UNAVAILABLE: _spec(
        "the attempt's steps cannot be confined on this worker (so they do not run)", ("reason", "why")
    ),
    EventType.WORKSPACE_READY: _spec(
        "a worktree was prepared",
        ("path", "where"),
        ("branch", "the task's branch"),
        ("base", "the commit it starts from"),
        ("port", "the port allocated to the attempt, or null"),
    ),
    EventType.AGENT_MESSAGE: _spec("an agent said something", ("text", "what it said"), open=True),
    EventType.AGENT_TOOL: _spec(
        "an agent ran a tool or command",
        ("tool", "the tool's name"),
        ("input", "its input"),
        ("id", "the tool call's id, when the agent gives one"),
        open=True,
    ),
    EventType.AGENT_OUTPUT: _spec(
        "output of a command or a tool",
        ("stream", "`stdout` | `stderr` | `tool`"),
        ("text", "the output"),
        ("id", "the tool call it answers (`tool`)"),
        ("is_error", "the tool reported an error (`tool`)"),
        open=True,
    ),
    EventType.AGENT_RESULT: _spec(
        "the agent finished", ("ok", "it succeeded"), ("summary", "its summary"), ("error", "why it failed")
    ),
    EventType.VERIFY_RESULT: _spec(
        "a verification command finished",
        ("command", "the command"),
        ("exit_code", "its exit code"),
        ("output", "its last 40 lines"),
        ("stage", "`task` (in the task's worktree) | `merge` (on the merge result)"),
    ),
    EventType.RETRY_CONTEXT: _spec(
        "a retry starts from an earlier attempt's failure",
        (
            "continued",
            "the session goes on at its committed work; else its changes were discarded and the agent "
            "starts afresh told why",
        ),
        ("failure", "what failed (its last 2000 characters)"),
    ),
    EventType.MEMORY_RECALLED: _spec(
        "lessons of earlier tasks were added to the agent's prompt (see docs/memory.md)",
        ("memories", "the lessons given, each with its `id`, `title` and `similarity`"),
    ),
    EventType.REVISION_REQUESTED: _spec(
        "a revision went back to the agent's session, after a failed check or the reviewer's verdict",
        ("revision", "its number"),
        ("command", "the check that failed"),
        ("output", "the check's output (its last 2000 characters)"),
        ("reviewer", "the reviewer who asked"),
    ),
    EventType.RESULT_EMPTY: _spec("the agent changed no file and the task does not allow an empty result"),
    EventType.COMMIT_CREATED: _spec(
        "the agent's work was committed", ("commit", "the commit (null: nothing changed)"), ("files", "what changed")
    ),
    EventType.MERGE_DONE: _spec(
        "the task's branch landed on the integration branch",
        ("commit", "the landed commit"),
        ("branch", "the integration branch"),
        ("found", "an interrupted attempt had landed it already"),
    ),
    EventType.PUSH_DONE: _spec(
        "the integration branch (and task branch) were pushed", ("remote", "the remote"), ("refs", "the branches")
    ),
    EventType.PUSH_FAILED: _spec(
        "a push failed; the landing stands",
        ("remote", "the remote"),
        ("refs", "the branches"),
        ("error", "git's message"),
    ),
    EventType.MERGE_CONFLICT: _spec(
        "the task's branch could not be merged",
        ("paths", "the paths in conflict"),
        ("ours", "the integration branch's head"),
        ("theirs", "the task's commit"),
    ),
    EventType.PLAN_PROPOSED: _spec(
        "a manager proposed a plan or a change to it",
        ("version", "the plan version"),
        ("reason", "why"),
        ("tasks", "how many tasks (a whole plan)"),
        ("changes", "the changes, each `{action, task}` (a re-plan)"),
        ("remaining", "how many tasks were left to run (a re-plan)"),
        ("by", "who edited it, for an edited plan"),
    ),
    EventType.PLAN_APPLIED: _spec(
        "a plan version took effect", ("version", "the plan version"), ("created", "the tasks a re-plan added")
    ),
    EventType.APPROVAL_REQUESTED: _spec(
        "a human gate opened", ("approval", "its id"), ("kind", "`plan` | `replan` | `budget` | `merge` | `revision`")
    ),
    EventType.APPROVAL_DECIDED: _spec(
        "a human gate was decided",
        ("approval", "its id"),
        ("kind", "its kind"),
        ("status", "`approved` | `rejected`"),
        ("by", "who decided"),
        ("reason", "why, when given"),
    ),
    EventType.REVIEW_VERDICT: _spec(
        "the reviewer judged an attempt",
        ("verdict", "`accept` | `revise` | `reject`"),
        ("revision", "the revision judged"),
        ("criteria", "criterion → status"),
    ),
    EventType.FORGE_PULL_OPENED: _spec(
        "the run's (or task's) pull request was opened or found", ("url", "its URL"), ("number", "its number")
    ),
    EventType.FORGE_PULL_READY: _spec(
        "the pull request was marked ready for review", ("url", "its URL"), ("number", "its number")
    ),
    EventType.FORGE_FEEDBACK: _spec(
        "review or CI feedback on the pull request for this task",
        ("status", "`sent` | `waiting` | `queued` | `refused`"),
        ("kinds", "the kinds of feedback"),
        ("approval", "the approval it waits for (`waiting`)"),
        ("reason", "why it was refused (`refused`)"),
    ),
}


def undeclared(type: str, payload: Mapping[str, Any]) -> list[str]:
    """The keys of ``payload`` that ``type``'s spec does not declare (none for an open or unknown type)."""
    spec = _BY_VALUE.get(type)
    if spec is None or spec.open:
        return []
    return sorted(set(payload) - spec.names)


_BY_VALUE: Final[Mapping[str, Spec]] = {str(t): s for t, s in SPECS.items()}


def markdown() -> str:
    """The table of event types and their payloads that ``docs/events.md`` holds."""
    lines = ["| event | meaning | payload |", "|---|---|---|"]
    for type, spec in SPECS.items():
        keys = "; ".join(f"`{f.name}`: {f.doc}" for f in spec.fields).replace("|", "\\|") or "—"
        if spec.open:
            keys += " (a runtime may add more)"
        lines.append(f"| `{type}` | {spec.meaning} | {keys} |")
    return "\n".join(lines) + "\n"
