"""What agents spent, rolled up per model, day, task or run (``quarterdeck costs``, ``GET /costs``)."""

from __future__ import annotations

from quarterdeck.store import costs as cost_store
from quarterdeck.store import listings
from quarterdeck.store.costs import CostRollup, Grouping
from quarterdeck.store.database import Database

__all__ = ["CostRollup", "Grouping", "read_cost_rollups"]


async def read_cost_rollups(
    db: Database, *, by: Grouping, run_id: str | None = None, org_id: str | None = None
) -> list[CostRollup]:
    """The spend grouped ``by``, of one run or every run (of one organisation, if given: then a run it has not
    is NotFound)."""
    async with db.read() as conn:
        if run_id is not None and org_id is not None:
            await listings.read_run(conn, run_id, org_id=org_id)
        return await cost_store.read_cost_rollups(conn, by=by, run_id=run_id, org_id=org_id)
