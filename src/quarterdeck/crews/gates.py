"""Human gates: approvals before a plan runs, a re-plan applies, a merge, a budget raise, a review's revision.

An approval is requested in the transaction that creates what it guards, and decided in one
transaction that also carries the decision out: an approved plan starts running, a rejected one
cancels its run; an approved re-plan is applied to the remaining tasks; an approved budget raise
raises the run's limit; a merge approval lets the waiting attempt land (or fails it when rejected), and
the run, ``waiting`` / ``merge`` meanwhile, runs again once no other merge waits (``store/merge_waits.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews import replan
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.engine import control
from quarterdeck.errors import InputError, NotFound
from quarterdeck.store import budgets, wakeups
from quarterdeck.store import control as control_store
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow

__all__ = ["KINDS", "decide", "decide_in", "pending", "request"]

#: what a gate can guard
KINDS = ("plan", "replan", "merge", "budget", "revision")


async def request(
    conn: AsyncConnection,
    *,
    org_id: str,
    kind: str,
    payload: dict[str, Any],
    requested_by: str,
    run_id: str | None = None,
    task_id: str | None = None,
) -> ApprovalRecord:
    """Open a pending approval (in the caller's transaction) and announce it."""
    if kind not in KINDS:
        raise InputError(f"unknown approval kind {kind!r}: use {', '.join(KINDS)}")
    approval = await crew_store.create_approval(
        conn, org_id=org_id, kind=kind, payload=payload, requested_by=requested_by, run_id=run_id, task_id=task_id
    )
    if run_id is not None:
        await event_store.create_events(
            conn,
            [
                event_store.NewEvent(
                    run_id, EventType.APPROVAL_REQUESTED, {"approval": approval.id, "kind": kind}, task_id=task_id
                )
            ],
        )
    return approval


async def pending(db: Database, *, org_id: str, run_id: str | None = None) -> list[ApprovalRecord]:
    """The organisation's approvals still waiting for a decision (of one run, when given), oldest first."""
    async with db.read() as conn:
        return await crew_store.read_approvals(conn, org_id=org_id, run_id=run_id, status="pending")


async def decide(
    db: Database, *, org_id: str, approval_id: str, approve: bool, by: str, reason: str | None = None
) -> ApprovalRecord:
    """Approve or reject, recording who and when, and carry the decision out in the same transaction.

    Raises:
        NotFound: no such approval in ``org_id``.
        InputError: it was decided already.
    """
    async with db.transaction() as conn:
        decided = await decide_in(conn, org_id=org_id, approval_id=approval_id, approve=approve, by=by, reason=reason)
    if decided.run_id is not None and decided.status == "approved" and db.dialect == "postgresql":
        async with db.transaction() as conn:
            await wakeups.announce_ready(conn, db.dialect)
    return decided


async def decide_in(
    conn: AsyncConnection, *, org_id: str, approval_id: str, approve: bool, by: str, reason: str | None = None
) -> ApprovalRecord:
    """``decide`` in the caller's transaction (the supervisor decides a re-plan in the one that proposes it)."""
    current = await crew_store.read_approval(conn, approval_id, org_id=org_id)
    decided = await crew_store.decide_approval(conn, approval_id, approve=approve, by=by, reason=reason, now=utcnow())
    if decided is None:
        raise InputError(
            f"approval {approval_id} was already {current.status} by {current.decided_by} at {current.decided_at}"
        )
    await _carry_out(conn, decided)
    if decided.run_id is not None:
        outcome = "approved" if approve else "rejected"
        await crew_store.create_message(
            conn,
            decided.run_id,
            sender=by,
            recipient="manager",
            type="decision",
            content=f"{decided.kind} {outcome}" + (f": {reason}" if reason else ""),
            task_id=decided.task_id,
            data={"approval": decided.id, "kind": decided.kind, "status": decided.status},
        )
        await event_store.create_events(
            conn,
            [
                event_store.NewEvent(
                    decided.run_id,
                    EventType.APPROVAL_DECIDED,
                    {
                        "approval": decided.id,
                        "kind": decided.kind,
                        "status": decided.status,
                        "by": by,
                        "reason": reason,
                    },
                    task_id=decided.task_id,
                )
            ],
        )
    return decided


async def _carry_out(conn: AsyncConnection, approval: ApprovalRecord) -> None:
    approved = approval.status == "approved"
    run_id = approval.run_id
    if run_id is None:
        return
    if approval.kind == "plan":
        version = int(approval.payload.get("version", 1))
        await crew_store.update_plan_version(conn, run_id, version, status="applied" if approved else "rejected")
        if approved:
            waiting: list[RunStatus | tuple[RunStatus, WaitingFor]] = [
                RunStatus.PAUSED,
                (RunStatus.WAITING, WaitingFor.PLAN),
            ]
            if await run_store.update_run_status(conn, run_id, RunStatus.RUNNING, allowed_from=waiting):
                await event_store.create_events(
                    conn, [event_store.NewEvent(run_id, EventType.PLAN_APPLIED, {"version": version})]
                )
        else:
            run = await run_store.read_run(conn, run_id)
            if not run.status.terminal:
                cancelled = await control_store.cancel_run(conn, run_id, now=utcnow())
                await event_store.create_events(
                    conn, [event_store.NewEvent(run_id, EventType.RUN_CANCELLED, {"tasks": cancelled})]
                )
    elif approval.kind == "replan":
        version = int(approval.payload["version"])
        if approved:
            await replan.apply_version(conn, run_id, version)
        else:
            await crew_store.update_plan_version(conn, run_id, version, status="rejected")
            # the failure stands: a run that waited for this re-plan ends
            failed = await run_store.update_run_status(
                conn,
                run_id,
                RunStatus.FAILED,
                allowed_from=[(RunStatus.WAITING, WaitingFor.REPLAN)],
                error="the re-plan was rejected",
            )
            if failed:
                await event_store.create_events(
                    conn,
                    [
                        event_store.NewEvent(
                            run_id, EventType.RUN_FINISHED, {"status": "failed", "reason": "re-plan rejected"}
                        )
                    ],
                )
    elif approval.kind == "budget" and not approved:
        # nobody pays for the rest: the run ends cancelled, rather than waiting for a raise nobody will give
        run = await run_store.read_run(conn, run_id)
        if run.status is RunStatus.WAITING and run.waiting_for == WaitingFor.BUDGET:
            cancelled = await control_store.cancel_run(conn, run_id, now=utcnow())
            payload: dict[str, object] = {"tasks": cancelled, "reason": "budget raise rejected"}
            if approval.decided_by:
                payload["by"] = approval.decided_by
            await event_store.create_events(conn, [event_store.NewEvent(run_id, EventType.RUN_CANCELLED, payload)])
    elif approval.kind == "budget" and approved:
        limit = await budgets.add_budget(conn, run_id, float(approval.payload["add_usd"]))
        raised = {"budget_usd": limit, "added_usd": float(approval.payload["add_usd"]), "by": approval.decided_by}
        new = [event_store.NewEvent(run_id, EventType.RUN_BUDGET_RAISED, raised)]
        # a merge approval still pending puts the run back to waiting for it
        new += await control.follow_merge_wait(conn, run_id)
        await event_store.create_events(conn, new)
    elif approval.kind == "revision" and approved:  # review feedback on a pull request (``forges.reviews``)
        from quarterdeck.engine import revisions

        task_id = str(approval.payload["task_id"])
        at = approval.payload.get("at")
        turn = str(approval.payload["turn"])
        if await revisions.reopen(conn, run_id, task_id, turn, at=str(at) if at else None, now=utcnow()):
            await event_store.create_events(
                conn, [event_store.NewEvent(run_id, EventType.FORGE_FEEDBACK, {"status": "sent"}, task_id)]
            )
    elif approval.kind == "merge":
        # the attempt waiting for it reads the decision (``crews.review``); the run runs again, unless another
        # merge still waits
        new = await control.follow_merge_wait(conn, run_id, by=approval.decided_by)
        await event_store.create_events(conn, new)


async def read_or_404(db: Database, *, org_id: str, approval_id: str) -> ApprovalRecord:
    """One approval of ``org_id``; NotFound otherwise."""
    async with db.read() as conn:
        try:
            return await crew_store.read_approval(conn, approval_id, org_id=org_id)
        except NotFound:
            raise NotFound(f"no approval {approval_id!r}") from None
