"""What agents spent, rolled up per model, day, task or run (``quarterdeck costs``)."""

from __future__ import annotations

from quarterdeck.store import costs as cost_store
from quarterdeck.store.costs import CostRollup, Grouping
from quarterdeck.store.database import Database

__all__ = ["CostRollup", "Grouping", "read_cost_rollups"]


async def read_cost_rollups(
    db: Database, *, by: Grouping, run_id: str | None = None, org_id: str | None = None
) -> list[CostRollup]:
    """The spend grouped ``by``, of one run or every run (of one organisation, if given)."""
    async with db.read() as conn:
        return await cost_store.read_cost_rollups(conn, by=by, run_id=run_id, org_id=org_id)
