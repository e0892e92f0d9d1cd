"""The event log as the live streams read it: where it ends now, and which organisation each run is of."""

from __future__ import annotations

from collections.abc import Sequence

from quarterdeck.store import events as event_store
from quarterdeck.store import listings
from quarterdeck.store.database import Database

__all__ = ["read_last_event_id", "read_run_orgs"]


async def read_last_event_id(db: Database) -> int:
    """The highest event id so far (0 for an empty log): a stream from ``latest`` starts after it."""
    async with db.read() as conn:
        return await event_store.read_last_event_id(conn)


async def read_run_orgs(db: Database, run_ids: Sequence[str]) -> dict[str, str]:
    """The organisation of each run (a stream sends a caller only its own organisation's events)."""
    async with db.read() as conn:
        return await listings.read_run_orgs(conn, run_ids)
