"""Cost rollups: what was spent per model, day, task or run, from the ``cost_entries`` rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.store.tables import cost_entries, runs

__all__ = ["CostRollup", "Grouping", "read_cost_rollups"]

Grouping = Literal["model", "day", "task", "run"]


@dataclass(frozen=True, slots=True)
class CostRollup:
    """One group's spend: its key, rows, tokens and cost; ``unpriced`` rows have an unknown cost (0 recorded)."""

    key: str
    entries: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced: int


async def read_cost_rollups(
    conn: AsyncConnection, *, by: Grouping, run_id: str | None = None, org_id: str | None = None
) -> list[CostRollup]:
    """Spend grouped ``by`` model, day (UTC), task or run, dearest first; only ``run_id``'s rows if given,
    only the organisation's runs if ``org_id`` is given.

    Days are grouped here rather than in SQL, so both dialects share one query.
    """
    c = cost_entries.c
    query = sa.select(
        c.run_id, c.task_id, c.provider, c.model, c.input_tokens, c.output_tokens, c.cost_usd, c.source, c.created_at
    )
    if org_id is not None:
        query = query.join(runs, runs.c.id == c.run_id).where(runs.c.org_id == org_id)
    if run_id is not None:
        query = query.where(c.run_id == run_id)
    groups: dict[str, list[float]] = {}
    for row in await conn.execute(query):
        if by == "model":
            key = row.model
        elif by == "day":
            key = row.created_at.date().isoformat()
        elif by == "task":
            key = f"{row.run_id}/{row.task_id or '-'}" if run_id is None else str(row.task_id or "-")
        else:
            key = row.run_id
        totals = groups.setdefault(key, [0, 0, 0, 0.0, 0])
        totals[0] += 1
        totals[1] += row.input_tokens
        totals[2] += row.output_tokens
        totals[3] += row.cost_usd
        totals[4] += row.source == "unpriced"
    rollups = [CostRollup(k, int(t[0]), int(t[1]), int(t[2]), float(t[3]), int(t[4])) for k, t in groups.items()]
    return sorted(rollups, key=lambda r: (-r.cost_usd, r.key))
