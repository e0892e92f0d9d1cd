"""The engine's group commit of successful outcomes (engine/outcomes.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from quarterdeck.domain import plans
from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.engine.outcomes import OutcomeWriter, Success
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim
from quarterdeck.store.types import utcnow


async def _claims(db: Database, *task_ids: str) -> list[Claim]:
    plan = plans.Plan(name="writer", tasks=tuple(plans.TaskSpec(id=i, title=i) for i in task_ids))
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id="r1", plan=plan, repo_path="/repo", base_ref="abc", integration_branch="qd"
        )
        return await task_store.claim_tasks(
            conn, dialect=db.dialect, worker_id="w1", lease_s=30, now=utcnow(), count=len(task_ids)
        )


def _success(claim: Claim) -> Success:
    return Success(claim=claim, events=(), commit=None, wants=0)


async def test_an_outcome_queued_as_the_writer_leaves_its_loop_is_written_without_another(db: Database) -> None:
    # A slot woken by its committed outcome may queue its next one in the same turn of the loop, after
    # the writer found the queue empty and before the writer's task has finished: that outcome must not
    # wait for a third one to start a writer.
    first, second = await _claims(db, "a", "b")
    writer = OutcomeWriter(db)
    assert (await writer.record(_success(first))).held
    queued = writer.submit(_success(second))
    recorded = await asyncio.wait_for(queued, timeout=30)  # a hang, not a timing, is what fails here
    assert recorded.held
    assert recorded.run_finished
    async with db.read() as conn:
        assert {t.id: t.status for t in await task_store.read_tasks(conn, "r1")} == {
            "a": TaskStatus.SUCCEEDED,
            "b": TaskStatus.SUCCEEDED,
        }
    assert (writer.groups, writer.recorded) == (2, 2)
