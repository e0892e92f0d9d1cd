"""The approvals inbox as the API reads it: a page of one organisation's approvals, with the names of their
runs and of the people who asked and decided (deciding one is ``Quarterdeck.decide``, through ``crews.gates``)."""

from __future__ import annotations

from dataclasses import dataclass

from quarterdeck.store import crews as crew_store
from quarterdeck.store import identity, listings
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database

__all__ = ["ApprovalPage", "ApprovalRecord", "read_approval_page"]


@dataclass(frozen=True, slots=True)
class ApprovalPage:
    """Up to ``limit`` approvals, oldest first; each run's (name, status); each person's name (user id → name);
    and whether more follow."""

    approvals: list[ApprovalRecord]
    runs: dict[str, tuple[str, str]]
    names: dict[str, str]
    more: bool


async def read_approval_page(
    db: Database, *, org_id: str, status: str | None, run_id: str | None = None, skip: int = 0, limit: int = 100
) -> ApprovalPage:
    """The organisation's approvals in ``status`` (any, when None), of one run when given (NotFound for a run the
    organisation has not), from the ``skip``-th."""
    async with db.read() as conn:
        if run_id is not None:
            await listings.read_run(conn, run_id, org_id=org_id)
        found = await crew_store.read_approvals(conn, org_id=org_id, run_id=run_id, status=status)
        page = found[skip : skip + limit]
        runs = await listings.read_run_labels(conn, sorted({a.run_id for a in page if a.run_id}))
        people = {a.requested_by for a in page} | {a.decided_by for a in page if a.decided_by}
        names = {u.id: u.name for u in await identity.read_users(conn, org_id=org_id, limit=10_000) if u.id in people}
    return ApprovalPage(approvals=page, runs=runs, names=names, more=len(found) > skip + limit)
