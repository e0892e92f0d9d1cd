"""Crew analytics: how the organisation's ended tasks did, grouped, over a window (``Quarterdeck.analytics``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.domain import analytics

__all__ = ["AnalyticsGroup", "AnalyticsReport", "router"]

router = v1_router("analytics")


class AnalyticsGroup(BaseModel):
    """One group's figures (see docs/analytics.md for each definition)."""

    key: str
    tasks: int
    succeeded: int
    first_attempt: int
    dead: int
    success_rate: float
    first_attempt_rate: float
    attempts_per_task: float
    revisions_per_task: float
    cost_usd: float
    cost_per_task_usd: float
    input_tokens: int
    output_tokens: int
    #: mean seconds per task in each phase: waiting, agent, checks, review, landing, other
    seconds_per_task: dict[str, float]
    #: review verdicts given: accept / revise / reject
    verdicts: dict[str, int]
    #: criteria judged: met / not_met / cannot_tell
    criteria: dict[str, int]


class AnalyticsReport(BaseModel):
    since: datetime
    until: datetime
    by: analytics.Grouping
    groups: list[AnalyticsGroup]
    #: every ended task of the window together (null when none ended)
    total: AnalyticsGroup | None


@router.get("/analytics")
async def read_analytics(
    principal: Viewer,
    svc: Svc,
    by: Annotated[analytics.Grouping, Query(description="How to group the tasks.")] = "role",
    since: Annotated[str | None, Query(max_length=40, description="A date, a time or an age (7d) [30d].")] = None,
    until: Annotated[str | None, Query(max_length=40, description="A date, a time or an age [now].")] = None,
    project_id: Annotated[str | None, Query(max_length=32)] = None,
) -> AnalyticsReport:
    """Success on the first attempt and overall, dead letters, revisions, cost, tokens and time per phase."""
    report = await svc.quarterdeck.analytics(
        by=by, since=since, until=until, org_id=principal.org_id, project_id=project_id
    )
    return AnalyticsReport.model_validate(report.figures())
