"""Roles cap their running tasks (``role:<name>`` limits), and team members show their role's workload."""

from __future__ import annotations

from quarterdeck.crews import team
from quarterdeck.crews.config import CrewConfig, RoleConfig
from quarterdeck.domain import plans
from quarterdeck.settings import Settings
from quarterdeck.store import crews as crew_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow


def _plan() -> plans.Plan:
    def spec(id: str, role: str | None) -> plans.TaskSpec:
        return plans.TaskSpec(id=id, title=id, role=role)

    return plans.Plan("roles", (spec("b1", "backend"), spec("b2", "backend"), spec("d1", "docs"), spec("x", None)))


async def test_a_role_at_its_limit_is_passed_over_for_other_roles(db: Database) -> None:
    plan = _plan()
    config = CrewConfig(roles={"backend": RoleConfig(concurrency=1), "docs": RoleConfig(concurrency=1)})
    limits = Settings(limits={**config.limits(), "global": 10}).limits
    assert limits == {"role:backend": 1, "role:docs": 1, "global": 10}
    async with db.transaction() as conn:
        await run_store.create_run(conn, run_id="r1", plan=plan, repo_path="/r", base_ref="x", integration_branch="b")
        await crew_store.create_team(conn, "r1", team.members_for(config, plan))
    claimed: list[str] = []
    for _ in range(4):
        async with db.transaction() as conn:
            claim = await task_store.claim_task(
                conn, dialect=db.dialect, worker_id="w", lease_s=30, now=utcnow(), limits=limits
            )
            if claim is not None:
                claimed.append(claim.task.id)
    assert claimed == ["b1", "d1", "x"]  # b2 waits for b1: one backend task at a time
    members = await team.read_team(db, "r1")
    assert [(m.name, m.kind, m.workload) for m in members] == [
        ("manager", "manager", 0),
        ("backend", "worker", 1),
        ("docs", "worker", 1),
        ("reviewer", "reviewer", 0),
    ]
