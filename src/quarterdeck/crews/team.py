"""The team of a run: its manager, one worker member per role, its reviewer; and their workload."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews.config import CrewConfig
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.store import crews as crew_store
from quarterdeck.store.database import Database
from quarterdeck.store.tables import tasks, team_members

__all__ = ["MANAGER", "REVIEWER", "members_for", "read_team", "sync_workload"]

#: the names of the manager and the reviewer in messages and verdicts
MANAGER, REVIEWER = "manager", "reviewer"


def members_for(crew: CrewConfig, plan: plans.Plan) -> list[crew_store.NewMember]:
    """The manager, a worker per role the plan uses (with the role's concurrency), and the reviewer."""
    used = sorted({t.role for t in plan.tasks if t.role})
    members = [crew_store.NewMember(MANAGER, "manager", "manager", "llm", crew.manager.label)]
    for name in used:
        _, role = crew.role(name)
        members.append(crew_store.NewMember(name, "worker", name, role.runtime, role.model, role.concurrency))
    members.append(crew_store.NewMember(REVIEWER, "reviewer", "reviewer", "llm", crew.reviewer.label))
    return members


async def sync_workload(conn: AsyncConnection, run_id: str) -> None:
    """Set each worker member's workload to the number of its role's tasks running now."""
    running = (
        sa.select(sa.func.count())
        .where(
            tasks.c.run_id == run_id,
            tasks.c.role == team_members.c.role,
            tasks.c.status == TaskStatus.RUNNING,
        )
        .scalar_subquery()
    )
    await conn.execute(
        team_members.update()
        .where(team_members.c.run_id == run_id, team_members.c.kind == "worker")
        .values(workload=running)
    )


async def read_team(db: Database, run_id: str) -> list[crew_store.TeamMemberRecord]:
    """The team of a run with each worker's workload counted now (empty when the run has no crew)."""
    async with db.transaction() as conn:
        await sync_workload(conn, run_id)
        return await crew_store.read_team(conn, run_id)
