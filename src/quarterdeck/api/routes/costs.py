"""Cost rollups: spend by model, day, task or run, over the organisation's runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from quarterdeck.api import schemas
from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import costs
from quarterdeck.app.costs import Grouping

__all__ = ["router"]

router = v1_router("costs")


@router.get("/costs")
async def read_costs(
    principal: Viewer,
    svc: Svc,
    by: Annotated[Grouping, Query(description="How to group the spend.")] = "model",
    run_id: Annotated[str | None, Query(max_length=32)] = None,
) -> schemas.Page[schemas.CostRow]:
    """Spend grouped by model, day (UTC), task or run, dearest first (one page holds every group)."""
    rollups = await costs.read_cost_rollups(svc.db, org_id=principal.org_id, by=by, run_id=run_id)
    return schemas.Page[schemas.CostRow](
        items=[
            schemas.CostRow(
                key=r.key,
                entries=r.entries,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
                unpriced=r.unpriced,
            )
            for r in rollups
        ],
        next_cursor=None,
    )
