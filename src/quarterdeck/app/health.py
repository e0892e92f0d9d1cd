"""What the operator watches: whether the database answers (the API's readiness probe), and the census the
Prometheus metrics are made from (``api/metrics.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from quarterdeck.errors import StoreError
from quarterdeck.store import analytics as analytics_store
from quarterdeck.store import listings
from quarterdeck.store.analytics import CrewTotals
from quarterdeck.store.database import Database
from quarterdeck.store.listings import Census
from quarterdeck.store.types import utcnow

__all__ = ["Census", "CrewTotals", "Vitals", "database_problem", "read_vitals"]


@dataclass(frozen=True, slots=True)
class Vitals:
    """Every organisation's runs and tasks by status, the queue's depth and the spend (``census``), how long
    finished attempts took (status, seconds), and how the crews' ended tasks did (``crew``)."""

    census: Census = field(default_factory=lambda: Census(runs={}, tasks={}, ready_now=0, cost_usd=0.0))
    durations: Sequence[tuple[str, float]] = ()
    crew: CrewTotals = field(default_factory=CrewTotals)


async def database_problem(db: Database) -> str | None:
    """None when the database answers a trivial query, else why not."""
    try:
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except StoreError as exc:
        return exc.message
    return None


async def read_vitals(db: Database) -> Vitals:
    """The census of every organisation, read in one read transaction."""
    async with db.read() as conn:
        census = await listings.read_census(conn, now=utcnow())
        durations = await listings.read_attempt_durations(conn)
        crew = await analytics_store.read_crew_totals(conn)
    return Vitals(census=census, durations=durations, crew=crew)
