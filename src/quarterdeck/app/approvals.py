"""Human gates: the approvals waiting for a person, every approval, a plan edited before it is approved, a
decision carried out at once (``crews.gates``); and the inbox as the API reads it, a page of one organisation's
approvals with the names of their runs and of the people who asked and decided."""

from __future__ import annotations

from dataclasses import dataclass

from quarterdeck.app.parts import Parts
from quarterdeck.store import crews as crew_store
from quarterdeck.store import identity, listings
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database

__all__ = ["ApprovalPage", "ApprovalRecord", "Approvals", "read_approval_page"]


class Approvals(Parts):
    async def pending_approvals(self, run_id: str | None = None, *, org_id: str | None = None) -> list[ApprovalRecord]:
        """The approvals waiting for a person (of one run, when given), oldest first."""
        from quarterdeck.crews import gates

        return await gates.pending(self.db, org_id=org_id or self.settings.org, run_id=run_id)

    async def approvals(self, run_id: str | None = None, *, org_id: str | None = None) -> list[ApprovalRecord]:
        """Every approval, pending and decided (of one run, when given), oldest first."""
        async with self.db.read() as conn:
            return await crew_store.read_approvals(conn, org_id=org_id or self.settings.org, run_id=run_id)

    async def edit_plan(self, approval_id: str, text: str, *, by: str, org_id: str | None = None) -> ApprovalRecord:
        """Replace the plan a pending plan approval asks about by ``text`` (a plan file), before anything runs."""
        from quarterdeck.crews import goals

        return await goals.edit_plan(
            self.db,
            self.registry,
            org_id=org_id or self.settings.org,
            approval_id=approval_id,
            text=text,
            by=by,
            cache=self.settings.resolved_repo_cache(),
        )

    async def decide(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None = None, org_id: str | None = None
    ) -> ApprovalRecord:
        """Approve or reject; the decision is carried out at once (a plan runs, a re-plan applies, a budget rises)."""
        from quarterdeck.crews import gates

        return await gates.decide(
            self.db, org_id=org_id or self.settings.org, approval_id=approval_id, approve=approve, by=by, reason=reason
        )


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
