"""The supervision rows' contract (a crew's decision steps under a lease), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from quarterdeck.domain import plans
from quarterdeck.store import runs as run_store
from quarterdeck.store import supervision
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow


async def test_a_deferred_step_waits_for_its_time_and_its_try_is_not_counted(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id="r1", plan=plans.Plan(name="p", tasks=()), repo_path="/repo", base_ref="abc",
            integration_branch="qd",
        )  # fmt: skip
        await supervision.create_supervision(conn, "r1", approve=False, actor="ada", step="plan", now=now)
        [taken] = await supervision.claim_steps(conn, holder="a", lease_s=30, now=now)
        assert taken.tries == 1
        assert await supervision.defer_step(conn, "r1", holder="a", now=now, until=now + timedelta(seconds=10))
        assert not await supervision.defer_step(conn, "r1", holder="a", now=now, until=now)  # no longer a's
    later = now + timedelta(seconds=5)
    async with db.transaction() as conn:
        for holder in ("a", "b"):  # nobody's, not even the one that deferred it, before its time
            assert not await supervision.any_due(conn, holder=holder, now=later)
            assert await supervision.claim_steps(conn, holder=holder, lease_s=30, now=later) == []
    due = now + timedelta(seconds=10)
    async with db.transaction() as conn:
        assert await supervision.any_due(conn, holder="a", now=due)
        [again] = await supervision.claim_steps(conn, holder="a", lease_s=30, now=due)
    assert (again.step, again.holder, again.tries) == ("plan", "a", 1)
