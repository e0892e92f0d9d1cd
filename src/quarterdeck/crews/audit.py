"""A run's audit trail, in time order: its messages, review verdicts, plan versions and human decisions, and every
change of course the events record — planning and waiting, revisions (by the reviewer or by a failed check, with
its output), failures, landings, conflicts, cancels, pauses, priorities and budget changes — each with its actor
(a user, an API key, ``manager``, ``reviewer`` or ``quarterdeck``) and its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database

__all__ = ["AUDITED", "AuditEntry", "trail"]

#: the events that change a run's course, shown in its trail
AUDITED = (
    "run.planning",
    "run.waiting",
    "run.finished",
    "run.cancelled",
    "run.paused",
    "run.resumed",
    "run.budget_exhausted",
    "run.budget_raised",
    "task.failed",
    "task.cancelled",
    "task.requeued",
    "task.prioritized",
    "revision.requested",
    "merge.done",
    "merge.conflict",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the trail."""

    at: datetime
    #: message | verdict | decision | plan | event
    kind: str
    sender: str
    recipient: str | None
    task_id: str | None
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


async def trail(db: Database, run_id: str) -> list[AuditEntry]:
    """Everything the crew and its humans said and decided in the run, oldest first.

    Raises:
        NotFound: no such run.
    """
    async with db.read() as conn:
        await run_store.read_run(conn, run_id)
        messages = await crew_store.read_messages(conn, run_id)
        verdicts = await crew_store.read_verdicts(conn, run_id)
        versions = await crew_store.read_plan_versions(conn, run_id)
        approvals = await crew_store.read_approvals(conn, run_id=run_id)
        changes = await event_store.read_events(conn, run_id, types=AUDITED, limit=100_000)
    entries: list[tuple[datetime, int, int, AuditEntry]] = []
    for m in messages:
        entry = AuditEntry(
            m.created_at, "message", m.sender, m.recipient, m.task_id, m.content, {"type": m.type, **m.data}
        )
        entries.append((m.created_at, 1, m.id, entry))
    for v in verdicts:
        met = sum(1 for c in v.criteria if c.get("status") == "met")
        summary = f"{v.verdict} (revision {v.revision}, {met}/{len(v.criteria)} criteria met): {v.summary}"
        data = {"verdict": v.verdict, "revision": v.revision, "attempt_id": v.attempt_id, "criteria": v.criteria}
        entries.append(
            (v.created_at, 2, v.id, AuditEntry(v.created_at, "verdict", v.reviewer, None, v.task_id, summary, data))
        )
    for p in versions:
        tasks = p.plan.get("tasks", [])
        summary = f"plan v{p.version} ({len(tasks)} tasks, {p.status}): {p.reason}"
        data = {"version": p.version, "status": p.status, "plan": p.plan}
        entries.append((p.created_at, 0, p.id, AuditEntry(p.created_at, "plan", p.author, None, None, summary, data)))
    for a in approvals:
        data = {"approval": a.id, "kind": a.kind, "status": a.status, "payload": a.payload}
        requested = AuditEntry(
            a.requested_at, "decision", a.requested_by, None, a.task_id, f"{a.kind} approval requested ({a.id})", data
        )
        entries.append((a.requested_at, 3, 0, requested))
        if a.decided_at is not None and a.decided_by is not None:
            why = f": {a.reason}" if a.reason else ""
            decided = AuditEntry(
                a.decided_at,
                "decision",
                a.decided_by,
                None,
                a.task_id,
                f"{a.kind} {a.status}{why}",
                {**data, "reason": a.reason},
            )
            entries.append((a.decided_at, 3, 1, decided))
    for e in changes:
        actor, summary = _told(e.type, e.payload)
        entry = AuditEntry(e.created_at, "event", actor, None, e.task_id, summary, {"type": e.type, **e.payload})
        entries.append((e.created_at, 4, e.id, entry))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in entries]


def _told(type_: str, p: dict[str, Any]) -> tuple[str, str]:
    """Who changed the run's course, and the line the trail says it in."""
    by = str(p.get("by") or "quarterdeck")
    match type_:
        case "run.planning":
            return by, f"goal given to the manager{'' if p.get('approve') else ' (no approval first)'}: {p.get('goal')}"
        case "run.waiting":
            task = f" (task {p['task']})" if p.get("task") else ""
            return "quarterdeck", f"waits for a person to decide its {p.get('for')}{task}"
        case "run.finished":
            why = f": {p['error']}" if p.get("error") else f" ({p['reason']})" if p.get("reason") else ""
            return "quarterdeck", f"run {p.get('status')}{why}"
        case "run.cancelled":
            return by, f"run cancelled ({len(p.get('tasks') or [])} tasks stopped)"
        case "run.resumed" if p.get("for"):
            return by, f"run resumed: no {p['for']} approval waits any more"
        case "run.paused" | "run.resumed":
            return by, f"run {type_.split('.')[1]}"
        case "run.budget_exhausted":
            return "quarterdeck", str(p.get("message") or "budget exhausted")
        case "run.budget_raised":
            added = f" by ${float(p['added_usd']):.2f}" if p.get("added_usd") is not None else ""
            return by, f"budget raised{added} to ${float(p.get('budget_usd') or 0):.2f}"
        case "task.failed":
            retry = f" (retry in {p['retry_in']}s)" if p.get("retry_in") is not None else " for good"
            return "quarterdeck", f"failed{retry}: {str(p.get('error') or '')[:500]}"
        case "task.cancelled":
            return by, "cancelled" + (f"; blocked {', '.join(p['blocked'])}" if p.get("blocked") else "")
        case "task.requeued":
            return by, "given fresh attempts"
        case "task.prioritized":
            return by, f"priority set to {p.get('priority')}"
        case "revision.requested":
            if p.get("reviewer"):
                return str(p["reviewer"]), f"revision {p.get('revision')} requested by the reviewer"
            last = [line for line in str(p.get("output") or "").splitlines() if line.strip()][-1:]
            return "quarterdeck", f"revision {p.get('revision')} requested: `{p.get('command')}` failed" + (
                f": {last[0][:300]}" if last else ""
            )
        case "merge.done":
            return "quarterdeck", f"landed {str(p.get('commit') or '')[:12]} on {p.get('branch')}"
        case "merge.conflict":
            return "quarterdeck", f"conflicts with the integration branch in {', '.join(p.get('paths') or [])}"
    return by, type_
