"""Starting a goal: the manager plans it, the plan becomes a run with its team, then waits for approval or runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quarterdeck.crews import gates, team
from quarterdeck.crews.config import CrewConfig
from quarterdeck.crews.manager import Planned
from quarterdeck.crews.models import Asker
from quarterdeck.domain import ids
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.engine import submit
from quarterdeck.errors import InputError, WorkspaceError
from quarterdeck.runtimes.registry import Registry
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import orgs as org_store
from quarterdeck.store import runs as run_store
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
) -> Started:
    """Create the run of a planned goal in one transaction: the run (paused when ``approve``), its first plan
    version, the manager's messages and costs, its team and, when ``approve``, the plan's approval."""
    if budget_usd is not None and budget_usd <= 0:
        raise InputError("the budget must be a positive amount of US dollars")
    plan = planned.plan
    submit.check_runtimes(plan, registry)
    run_id = ids.new_run_id()
    branch = ids.check_branch_name(branch) if branch is not None else f"quarterdeck/{run_id}"
    try:
        top, base_commit = await submit.prepare_repository(repo, base, branch)
    except WorkspaceError as exc:
        raise InputError(exc.message) from None
    ids.check_safe_name(org_id, what="organisation")
    async with db.transaction() as conn:
        await org_store.ensure_org(conn, org_id)
        run = await run_store.create_run(
            conn,
            run_id=run_id,
            plan=plan,
            repo_path=str(top),
            base_ref=base_commit,
            integration_branch=branch,
            budget_usd=budget_usd,
            org_id=org_id,
            goal=goal,
        )
        if approve:
            await run_store.update_run_status(conn, run_id, RunStatus.PAUSED, allowed_from=[RunStatus.RUNNING])
            run = await run_store.read_run(conn, run_id)
        version = await crew_store.create_plan_version(
            conn,
            run_id,
            plan=planned.plan_file,
            author=team.MANAGER,
            reason=planned.draft.summary or goal,
            status="proposed" if approve else "applied",
        )
        for type_, content in planned.exchange:
            to_manager = type_ in ("goal", "revision")
            await crew_store.create_message(
                conn,
                run_id,
                sender="quarterdeck" if to_manager else team.MANAGER,
                recipient=team.MANAGER if to_manager else "quarterdeck",
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
            event_store.NewEvent(run_id, EventType.RUN_CREATED, {"name": plan.name, "tasks": len(plan.tasks)}),
            event_store.NewEvent(
                run_id,
                EventType.PLAN_PROPOSED,
                {"version": version.version, "reason": version.reason, "tasks": len(plan.tasks)},
            ),
        ]
        if not approve:
            new.append(event_store.NewEvent(run_id, EventType.PLAN_APPLIED, {"version": version.version}))
        new += [
            event_store.NewEvent(run_id, EventType.TASK_READY, {}, task_id=t.id) for t in plan.tasks if not t.depends_on
        ]
        await event_store.create_events(conn, new)
        approval = None
        if approve:
            approval = await gates.request(
                conn,
                org_id=org_id,
                kind="plan",
                payload={"version": version.version, "goal": goal},
                requested_by=team.MANAGER,
                run_id=run_id,
            )
    return Started(run=run, approval=approval)
