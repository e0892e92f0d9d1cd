"""A run's audit trail: its messages, review verdicts, plan versions and human decisions, in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quarterdeck.store import crews as crew_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database

__all__ = ["AuditEntry", "trail"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the trail."""

    at: datetime
    #: message | verdict | decision | plan
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
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in entries]
