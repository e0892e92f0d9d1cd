"""Starting a goal: the manager plans it, the plan becomes a run with its team, then waits for approval or runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews import gates, team
from quarterdeck.crews.config import CrewConfig
from quarterdeck.crews.manager import Planned
from quarterdeck.crews.models import Asker
from quarterdeck.domain.events import EventType
from quarterdeck.engine import submit
from quarterdeck.runtimes.registry import Registry
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database
from quarterdeck.store.records import RunRecord

__all__ = ["Started", "start_run"]


@dataclass(frozen=True, slots=True)
class Started:
    """The run of a goal, and the approval it waits for (None when it runs at once)."""

    run: RunRecord
    approval: ApprovalRecord | None


async def start_run(
    db: Database,
    registry: Registry,
    goal: str,
    planned: Planned,
    crew: CrewConfig,
    asker: Asker,
    *,
    repo: Path,
    approve: bool,
    org_id: str,
    budget_usd: float | None = None,
    base: str = "HEAD",
    branch: str | None = None,
    author: str | None = None,
) -> Started:
    """Create the run of a planned goal in one transaction: the run (paused when ``approve``), its first plan
    version, the manager's messages and costs, its team and, when ``approve``, the plan's approval.

    ``author``: the person who edited the manager's plan before it was submitted (None: as the manager wrote it)."""
    plan = planned.plan
    approval: ApprovalRecord | None = None

    async def record_crew(conn: AsyncConnection, run: RunRecord) -> None:
        nonlocal approval
        run_id = run.id
        version = await crew_store.create_plan_version(
            conn,
            run_id,
            plan=planned.plan_file,
            author=author or team.MANAGER,
            reason=planned.draft.summary or goal if author is None else f"the manager's plan, edited by {author}",
            status="proposed" if approve else "applied",
        )
        for type_, content in planned.exchange:
            to_manager = type_ in ("goal", "revision")
            sender = (author or "human") if type_ == "edit" else "quarterdeck" if to_manager else team.MANAGER
            await crew_store.create_message(
                conn,
                run_id,
                sender=sender,
                recipient=team.MANAGER if to_manager or type_ == "edit" else "quarterdeck",
                type=type_,
                content=content,
                data={"version": version.version},
            )
        for task in plan.tasks:
            estimate = next((t.estimate_usd for t in planned.draft.tasks if t.id == task.id), None)
            await crew_store.create_message(
                conn,
                run_id,
                sender=team.MANAGER,
                recipient=task.role or task.runtime,
                type="assignment",
                content=task.title,
                task_id=task.id,
                data={"estimate_usd": estimate},
            )
        for spent in asker.take_spent():
            await spent.record(conn, run_id)
        await crew_store.create_team(conn, run_id, team.members_for(crew, plan))
        new = [
            event_store.NewEvent(
                run_id,
                EventType.PLAN_PROPOSED,
                {"version": version.version, "reason": version.reason, "tasks": len(plan.tasks)},
            )
        ]
        if not approve:
            new.append(event_store.NewEvent(run_id, EventType.PLAN_APPLIED, {"version": version.version}))
        await event_store.create_events(conn, new)
        if approve:
            approval = await gates.request(
                conn,
                org_id=org_id,
                kind="plan",
                payload={"version": version.version, "goal": goal},
                requested_by=team.MANAGER,
                run_id=run_id,
            )

    run = await submit.submit_plan(
        db,
        registry,
        plan,
        repo=repo,
        base=base,
        branch=branch,
        budget_usd=budget_usd,
        org_id=org_id,
        goal=goal,
        paused=approve,
        also=record_crew,
    )
    return Started(run=run, approval=approval)
