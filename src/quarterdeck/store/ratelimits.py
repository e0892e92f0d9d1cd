"""Rate-limit buckets shared by every worker: the ``llm_rate_limits`` table and its repository functions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.store.tables import metadata

__all__ = ["claim_bucket", "llm_rate_limits", "update_bucket"]

#: one row per provider key bucket (``provider|server|key digest``): levels and when they were taken
llm_rate_limits = sa.Table(
    "llm_rate_limits",
    metadata,
    sa.Column("bucket", sa.String(200), primary_key=True),
    sa.Column("requests", sa.Float, nullable=False),
    sa.Column("tokens", sa.Float, nullable=False),
    #: seconds since the epoch when the levels were last computed
    sa.Column("at", sa.Float, nullable=False),
)


async def claim_bucket(
    conn: AsyncConnection, dialect: str, bucket: str, full: tuple[float, float], now: float
) -> tuple[float, float, float]:
    """The bucket's levels and time, its row locked for the rest of the transaction (created full if new).

    The insert-if-missing is dialect-specific (both speak ``ON CONFLICT DO NOTHING``); PostgreSQL then
    locks the row with ``FOR UPDATE``, while SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
    """
    values = {"bucket": bucket, "requests": full[0], "tokens": full[1], "at": now}
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(llm_rate_limits)
    await conn.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["bucket"]))
    query = sa.select(llm_rate_limits.c.requests, llm_rate_limits.c.tokens, llm_rate_limits.c.at).where(
        llm_rate_limits.c.bucket == bucket
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    return float(row.requests), float(row.tokens), float(row.at)


async def update_bucket(conn: AsyncConnection, bucket: str, requests: float, tokens: float, at: float) -> None:
    """Store the bucket's new levels."""
    await conn.execute(
        llm_rate_limits.update()
        .where(llm_rate_limits.c.bucket == bucket)
        .values(requests=requests, tokens=tokens, at=at)
    )
